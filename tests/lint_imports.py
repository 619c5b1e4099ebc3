"""Check the import contracts in pyproject.toml ([tool.importlinter]): the layer
rules (what may import what) and no cycles between sibling modules.

The repository keeps each part at the top level (probes/, collector/, store/,
tui/) and installs them under `scope`; import-linter reads a package from one
folder, so the package is assembled first, as the wheel lays it out, in a
temporary folder. Run by `make lint` (part of `make test`).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def assemble(into: Path) -> Path:
    """The `scope` package as installed, made of the repository's folders."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping = project["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(mapping.items()):
        dest = into.joinpath(*package.split("."))
        dest.mkdir(parents=True, exist_ok=True)
        for src in (ROOT / folder).rglob("*.py"):
            rel = src.relative_to(ROOT / folder)
            if rel.parts[0] in {p.split(".")[-1] for p in mapping if p.count(".") == package.count(".") + 1}:
                continue                    # a subpackage mapped on its own
            if "__pycache__" in rel.parts or rel.parts[0] in ("build",):
                continue
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return into


def check(tree: Path, *, quiet: bool = False) -> subprocess.CompletedProcess:
    """lint-imports on an assembled package tree (its output captured when quiet)."""
    exe = Path(sys.executable).parent / "lint-imports"
    return subprocess.run([str(exe), "--no-cache", str(ROOT / "pyproject.toml")], cwd=tree,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=quiet, text=True, check=False)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="scope-imports-") as tmp:
        return check(assemble(Path(tmp))).returncode


if __name__ == "__main__":
    sys.exit(main())
