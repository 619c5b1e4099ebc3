"""What every export format declares (the registry's row)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Exporter:
    name: str                       # --format NAME
    suffix: str                     # the default file's extension
    write: Callable                 # Recording -> str | bytes
    help: str                       # one phrase for --help
