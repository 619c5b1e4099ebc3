"""`scope store ls|compact|prune|verify`: look after a store of recordings."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pyarrow as pa

from ..collector.recover import recover
from ..errors import RecordingError, UsageError
from ..store.compact import compact
from ..store.fleet import describe, find_recordings
from ..store.retention import prune
from ..store.verify import verify
from ..text import shown
from ..units import human_bytes, parse_age, parse_size
from .output import write_table

DEFAULT_ROOT = Path("scope-recordings")


class StoreCommand:
    help = "look after recordings: ls, compact, prune, verify, recover"

    def prepare_parser(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        ls = sub.add_parser("ls", help="list the recordings in a store (default ./scope-recordings)")
        ls.add_argument("root", type=Path, nargs="?", default=DEFAULT_ROOT, metavar="ROOT")
        ls.add_argument("--format", choices=("table", "json", "csv"), default=None,
                        help="table (the default; units and separators on a terminal), json or csv")
        compact = sub.add_parser("compact", help="merge warm segments into the cold tier: larger, "
                                                 "hive-partitioned files (host/date/hour), same schema")
        compact.add_argument("paths", type=Path, nargs="*", default=[DEFAULT_ROOT], metavar="DIR",
                             help="recordings, or folders of recordings (default ./scope-recordings)")
        prune = sub.add_parser("prune", help="remove the oldest recordings until under --max-bytes, "
                                             "and those older than --max-age")
        prune.add_argument("root", type=Path, nargs="?", default=DEFAULT_ROOT, metavar="ROOT")
        prune.add_argument("--max-bytes", metavar="SIZE", help="e.g. 10G, 500M")
        prune.add_argument("--max-age", metavar="AGE", help="e.g. 7d, 12h, 30m")
        prune.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
        verify = sub.add_parser("verify", help="check every file of a recording; report damage "
                                               "and an unfinished tail without touching good files")
        verify.add_argument("folder", type=Path, metavar="DIR")
        recover_ = sub.add_parser("recover", help="finish a recording whose collector was killed while "
                                                  "records waited in its spill: index them, exactly")
        recover_.add_argument("folder", type=Path, metavar="DIR")

    def run(self, args) -> int:
        return getattr(self, f"_{args.action}")(args)

    def _ls(self, args) -> int:

        rows = [describe(p) for p in find_recordings(args.root)]
        cols = ("recording", "state", "started", "seconds", "host", "pid", "exe", "events",
                "calls", "dropped", "bytes")
        write_table(pa.Table.from_pylist(rows) if rows else pa.table({c: [] for c in cols}), args.format)
        return 0

    def _compact(self, args) -> int:
        folders = [f for p in args.paths for f in find_recordings(p)]
        if not folders:
            raise RecordingError(f"no recordings in {', '.join(map(str, args.paths))}",
                                 "give a recording folder or a folder of recordings")
        for folder in folders:
            res = compact(folder)
            if res.done:
                files = ", ".join(f"{t} {a} -> {b} files ({res.rows[t]:,} rows)" for t, (a, b) in res.files.items())
                print(f"{shown(str(folder))}: {files}; "
                      f"{human_bytes(res.bytes_before)} -> {human_bytes(res.bytes_after)}")
            else:
                print(f"{shown(str(folder))}: left as it is ({shown(str(res.skipped))})")
        return 0

    def _prune(self, args) -> int:
        if args.max_bytes is None and args.max_age is None:
            raise UsageError("prune needs --max-bytes or --max-age", "e.g. scope store prune --max-bytes 10G")
        gone = prune(args.root, max_bytes=None if args.max_bytes is None else parse_size(args.max_bytes),
                     max_age_s=None if args.max_age is None else parse_age(args.max_age),
                     now_ns=time.time_ns(), dry_run=args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        for r in gone:
            print(f"{verb} {shown(str(r.folder))} ({human_bytes(r.bytes)}, {r.reason})")
        print(f"{verb} {len(gone)} recording(s), {human_bytes(sum(r.bytes for r in gone))}")
        return 0

    def _verify(self, args) -> int:
        if not args.folder.is_dir():
            raise RecordingError(f"{args.folder} is not a folder", "give a recording folder")
        rep = verify(args.folder)
        rows = sum(n for _, n in rep.ok)
        # names of files and what pyarrow says of them (a crafted file's column
        # and struct field names) are the recording's: shown escaped
        print(f"{shown(str(rep.folder))}: {'finished' if rep.finished else 'UNFINISHED (no session.json)'}; "
              f"{len(rep.ok)} files intact ({rows:,} rows)")
        for name, why in rep.damaged:
            print(f"  damaged   {shown(name)}: {shown(why)}")
        for name in rep.missing:
            print(f"  missing   {shown(name)} (listed in session.json)")
        for name in rep.partial:
            print(f"  partial   {shown(name)} (a write cut short; not part of the recording)")
        if rep.unlisted:
            print(f"  {'tail' if not rep.finished else 'unlisted'}      {len(rep.unlisted)} segment(s) "
                  f"written before the collector stopped: {shown(', '.join(rep.unlisted[:4]))}"
                  + (" …" if len(rep.unlisted) > 4 else ""))
        if rep.spill is not None:
            records, rings = rep.spill
            print(f"  spill     {records:,} records of {rings} ring(s) waited in {shown(str(args.folder))}/"
                  f"rings.spill, not yet indexed: `scope store recover {shown(str(args.folder))}` indexes them")
        if rep.spill_problem:
            print(f"  spill     {shown(rep.spill_problem)}")
        if rep.healthy:
            return 0
        print(f"scope: error: {shown(str(rep.folder))} is "
              f"{'damaged' if rep.damaged or rep.missing else 'unfinished'}; "
              "the intact files above stay readable", file=sys.stderr)
        return 1

    def _recover(self, args) -> int:
        if not args.folder.is_dir():
            raise RecordingError(f"{args.folder} is not a folder", "give a recording folder")
        res = recover(args.folder)
        got = res.recovered
        print(f"{res.folder}: {got.recovered:,} records recovered from the spill ({res.calls:,} calls); "
              f"{got.lost:,} lost at the kill (in the collector's memory); finished")
        for line in got.errors:
            print(f"  {shown(line)}")
        return 0
