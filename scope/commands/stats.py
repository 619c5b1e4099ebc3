"""`scope stats DIR`: top functions, GC pauses, imports, slowest calls, anomalies."""
from __future__ import annotations

import json
import sys

from ..errors import UsageError
from ..store.reader import open_recording
from ..store.stats import report
from ..text import json_safe
from ..units import MAX_COUNT, whole_number
from .folders import add_folder_arguments, folders_of
from .output import fields_line, human_wanted, without_unknown_waits, write_table


class StatsCommand:
    help = "summarise a recording: top functions, GC pauses, imports, slowest calls, anomalies"

    def prepare_parser(self, parser) -> None:
        add_folder_arguments(parser, many=False)
        parser.add_argument("--limit", type=whole_number(0, MAX_COUNT), default=10, metavar="N",
                            help="rows per section (default 10)")
        parser.add_argument("--hide-idle", action="store_true",
                            help="leave the usual waiting frames (threading waits, queue.get, selectors, …) out "
                                 "of top functions and slowest calls")
        parser.add_argument("--format", choices=("table", "json"), default=None,
                            help="table (units and separators; the default on a terminal, exact numbers "
                                 "when piped) or json")

    def run(self, args) -> int:
        (folder,) = folders_of(args, "stats", many=False)
        if args.limit <= 0:
            raise UsageError(f"--limit must be positive, not {args.limit}", "e.g. --limit 10")
        sections = report(open_recording(folder), limit=args.limit, hide_idle=args.hide_idle)
        if args.format == "json":
            sys.stdout.write(json_safe(json.dumps({name: (v if isinstance(v, dict) else v.to_pylist())
                                                   for name, v in sections.items()}, ensure_ascii=False)))
            sys.stdout.write("\n")
            return 0
        human = human_wanted(args.format)
        for name, value in sections.items():
            print(f"## {name}")
            if isinstance(value, dict):
                print(fields_line(value, human))
            else:
                value, note = without_unknown_waits(value, human)
                write_table(value, "table", human=human)
                if note:
                    print(f"({note})")
            print()
        return 0
