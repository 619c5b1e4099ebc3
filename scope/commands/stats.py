"""`scope stats --parquet DIR`: top functions, GC pauses, imports, slowest calls, anomalies."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import UsageError


class StatsCommand:
    help = "summarise a recording: top functions, GC pauses, imports, slowest calls, anomalies"

    def prepare_parser(self, parser) -> None:
        parser.add_argument("--parquet", type=Path, required=True, metavar="DIR", help="the recording folder")
        parser.add_argument("--limit", type=int, default=10, metavar="N", help="rows per section (default 10)")
        parser.add_argument("--format", choices=("table", "json"), default="table")

    def run(self, args) -> int:
        from ..store.reader import open_recording
        from ..store.stats import report
        from .output import write_table
        if args.limit <= 0:
            raise UsageError(f"--limit must be positive, not {args.limit}", "e.g. --limit 10")
        sections = report(open_recording(args.parquet), limit=args.limit)
        if args.format == "json":
            json.dump({name: (v if isinstance(v, dict) else v.to_pylist()) for name, v in sections.items()},
                      sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
            return 0
        for name, value in sections.items():
            print(f"## {name}")
            if isinstance(value, dict):
                print("  ".join(f"{k} {v:,}" for k, v in value.items()))
            else:
                write_table(value, "table")
            print()
        return 0
