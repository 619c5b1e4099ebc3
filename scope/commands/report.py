"""`scope report DIR [-o FILE]`: one self-contained HTML page of a recording."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UsageError
from ..store.fsutil import atomic_file
from ..store.reader import open_recording
from ..store.report import render_report
from .folders import add_folder_arguments, folders_of


class ReportCommand:
    help = ("write one HTML page of a recording that works offline: its facts, top functions, a "
            "zoomable flame graph, the slowest calls per thread, GC pauses, anomalies")

    def prepare_parser(self, parser) -> None:
        add_folder_arguments(parser, many=False)
        parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                            help="the file to write (default: the recording's name.html, here)")

    def run(self, args) -> int:
        (folder,) = folders_of(args, "report", many=False)
        rec = open_recording(folder)
        out = args.output or Path(f"{folder.resolve().name}.html")
        if out.is_dir():
            raise UsageError(f"{out} is a folder", "name the file to write, e.g. -o report.html")
        if not out.parent.exists():
            raise UsageError(f"folder {out.parent} does not exist", "create it or pick another -o")
        data = render_report(rec).encode()
        with atomic_file(out) as tmp:
            Path(tmp).write_bytes(data)
        print(f"wrote {out} ({len(data):,} bytes): open it in a browser", file=sys.stderr)
        return 0
