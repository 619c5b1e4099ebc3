"""`scope tui [DIR…] [--live]`: explore recordings in the terminal."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import RecordingError, UsageError
from ..store.fleet import find_recordings

DEFAULT_ROOT = Path("scope-recordings")


class TuiCommand:
    help = "explore a recording: timeline, time travel, top functions, events, call tree"

    def prepare_parser(self, parser) -> None:
        parser.add_argument("paths", type=Path, nargs="*", metavar="DIR",
                            help="a recording, or a folder of recordings to pick from "
                                 "(default: the newest under ./scope-recordings)")
        parser.add_argument("--live", action="store_true",
                            help="follow a recording in progress (about 1 s behind)")

    def run(self, args) -> int:
        # the TUI (textual) is read only when asked for: it is the heaviest import
        from ..tui.datasource import LiveSource, RecordingSource, StoreSource
        if len(args.paths) > 1:           # several: pick from their list
            for p in args.paths:
                if not find_recordings(p):
                    raise RecordingError(f"{p} is not a scope recording and holds no recordings",
                                         "give folders written by `scope attach` or `scope run`")
            source = StoreSource(args.paths, live=args.live)
            path = None
        elif args.paths:
            path = args.paths[0]
        else:
            found = find_recordings(DEFAULT_ROOT) if DEFAULT_ROOT.exists() else []
            if not found:
                raise RecordingError(f"no recordings under ./{DEFAULT_ROOT}",
                                     "record one with `scope attach PID` or `scope run -- python3.11 app.py`, "
                                     "or name a recording folder")
            path = found[-1]
        if path is not None:
            found = find_recordings(path)
            if not found:
                raise RecordingError(f"{path} is not a scope recording and holds no recordings",
                                     "give a folder written by `scope attach` or `scope run`")
            if found == [path]:
                source = LiveSource(path) if args.live else RecordingSource.open(path)
            else:
                source = StoreSource(path, live=args.live)
        if not sys.stdout.isatty() or not sys.stdin.isatty():
            raise UsageError("scope tui needs a terminal", "run it in a terminal, or use `scope query`")
        from ..tui.app import ScopeApp  # textual: see above
        ScopeApp(source).run()
        return 0
