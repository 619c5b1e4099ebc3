"""`scope diff A B`: which functions got slower or faster between two recordings."""
from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc

from ..errors import UsageError
from ..store.diff import diff
from ..store.reader import open_recording
from ..units import MAX_COUNT, whole_number
from .output import write_table


class DiffCommand:
    help = "per-function changes between two recordings (counts, time, significance)"

    def prepare_parser(self, parser) -> None:
        parser.add_argument("a", type=Path, metavar="A", help="the recording before")
        parser.add_argument("b", type=Path, metavar="B", help="the recording after")
        parser.add_argument("--limit", type=whole_number(0, MAX_COUNT), metavar="N", help="print at most N rows")
        parser.add_argument("--significant", action="store_true",
                            help="only functions whose durations changed beyond chance (p < 0.01)")
        parser.add_argument("--format", choices=("table", "json", "csv"), default="table")

    def run(self, args) -> int:

        if args.limit is not None and args.limit <= 0:
            raise UsageError(f"--limit must be positive, not {args.limit}", "e.g. --limit 20")
        table = diff(open_recording(args.a), open_recording(args.b))
        if args.significant:
            table = table.filter(pc.equal(table["significant"], True))
        if args.limit is not None:
            table = table.slice(0, args.limit)
        write_table(table, args.format)
        return 0
