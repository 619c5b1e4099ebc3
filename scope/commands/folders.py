"""The recording folders a reading command is given: positional (``scope query
DIR``), or through ``--parquet DIR`` as before — both accepted everywhere."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError


def add_folder_arguments(parser: argparse.ArgumentParser, *, many: bool) -> None:
    what = ("recording folders, or folders of recordings (a store such as ./scope-recordings): several "
            "are lined up on wall time" if many else "the recording folder")
    parser.add_argument("folders", nargs="*", type=Path, metavar="DIR", help=what)
    parser.add_argument("--parquet", type=Path, nargs="+", metavar="DIR", default=[],
                        help="the same as DIR (the older spelling)")


def folders_of(args, command: str, *, many: bool) -> list[Path]:
    """Every folder given, positional first; one clear line when there is none (or,
    for a one-recording command, more than one)."""
    folders = [*args.folders, *args.parquet]
    if not folders:
        raise UsageError(f"scope {command} needs a recording folder",
                         f"e.g. scope {command} scope-recordings/<recording> (`scope store ls` lists them)")
    if not many and len(folders) > 1:
        raise UsageError(f"scope {command} takes one recording folder, not {len(folders)}",
                         "give one (scope query and scope diff compare several)")
    return folders
