"""scope's version: the installed distribution's (pyproject.toml's), one source."""
from __future__ import annotations

import functools
import tomllib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed
from pathlib import Path


@functools.cache
def version() -> str:
    try:
        return installed("scope-tracer")
    except PackageNotFoundError:       # a source tree run without installing: pyproject says
        with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as fh:
            return tomllib.load(fh)["project"]["version"]
