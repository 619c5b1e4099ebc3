"""The interpreters the tests run targets under: Debian's python3.11 (USDT markers)
and pyenv's builds without markers, listed in tests/pyenv-versions.txt, which
./setup.sh reads to install any that are missing."""
from __future__ import annotations

from pathlib import Path

DEBIAN = "/usr/bin/python3.11"
PYENV_ROOT = Path.home() / ".pyenv" / "versions"


def pyenv_versions() -> list[str]:
    text = (Path(__file__).parent / "pyenv-versions.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def pyenv_python(version: str) -> Path:
    """The pyenv interpreter of `version` (it may be missing: tests skip, and fail under CI)."""
    return PYENV_ROOT / version / "bin" / f"python{version.rsplit('.', 1)[0]}"
