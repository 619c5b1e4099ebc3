"""`scope store verify DIR`: check a recording's files; damage is reported, nothing is changed."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import RecordingError


class StoreCommand:
    help = "look after recordings: verify"

    def prepare_parser(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = sub.add_parser("verify", help="check every file of a recording; report damage "
                                               "and an unfinished tail without touching good files")
        verify.add_argument("folder", type=Path, metavar="DIR")

    def run(self, args) -> int:
        from ..store.verify import verify
        if not args.folder.is_dir():
            raise RecordingError(f"{args.folder} is not a folder", "give a recording folder")
        rep = verify(args.folder)
        rows = sum(n for _, n in rep.ok)
        print(f"{rep.folder}: {'finished' if rep.finished else 'UNFINISHED (no session.json)'}; "
              f"{len(rep.ok)} files intact ({rows:,} rows)")
        for name, why in rep.damaged:
            print(f"  damaged   {name}: {why}")
        for name in rep.missing:
            print(f"  missing   {name} (listed in session.json)")
        for name in rep.partial:
            print(f"  partial   {name} (a write cut short; not part of the recording)")
        if rep.unlisted:
            print(f"  {'tail' if not rep.finished else 'unlisted'}      {len(rep.unlisted)} segment(s) "
                  f"written before the collector stopped: {', '.join(rep.unlisted[:4])}"
                  + (" …" if len(rep.unlisted) > 4 else ""))
        if rep.healthy:
            return 0
        print(f"scope: error: {rep.folder} is {'damaged' if rep.damaged or rep.missing else 'unfinished'}; "
              "the intact files above stay readable", file=sys.stderr)
        return 1
