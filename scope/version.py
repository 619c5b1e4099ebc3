"""scope's version: the installed distribution's (pyproject.toml's), one source."""
from __future__ import annotations

import functools


@functools.cache
def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed
    try:
        return installed("scope-tracer")
    except PackageNotFoundError:       # a source tree run without installing: pyproject says
        import tomllib
        from pathlib import Path
        with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as fh:
            return tomllib.load(fh)["project"]["version"]
