"""`scope export DIR [--format svg|perfetto|chrome|speedscope|folded] [-o FILE]`:
the formats are store/exports' table."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UsageError
from ..store.exports import EXPORTERS
from ..store.fsutil import atomic_file
from ..store.reader import open_recording
from .folders import add_folder_arguments, folders_of


class ExportCommand:
    help = ("write a recording as a picture or for another viewer: a flame graph (SVG, the default), "
            "Perfetto, Chrome JSON, speedscope, folded stacks")

    def prepare_parser(self, parser) -> None:
        add_folder_arguments(parser, many=False)
        parser.add_argument("--format", choices=list(EXPORTERS), default=next(iter(EXPORTERS)),
                            help="; ".join(f"{e.name}: {e.help}" for e in EXPORTERS.values()))
        parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                            help="the file to write ('-' for standard output; default: the recording's "
                                 "name with the format's extension, here)")

    def run(self, args) -> int:
        (folder,) = folders_of(args, "export", many=False)
        if args.output is None:
            args.output = Path(f"{folder.resolve().name}{EXPORTERS[args.format].suffix}")
        if str(args.output) != "-" and args.output.is_dir():
            raise UsageError(f"{args.output} is a folder", "name the file to write, e.g. -o trace.json")
        text = EXPORTERS[args.format].write(open_recording(folder))
        data = text if isinstance(text, bytes) else text.encode()
        if str(args.output) == "-":
            sys.stdout.buffer.write(data)
            return 0
        if not args.output.parent.exists():
            raise UsageError(f"folder {args.output.parent} does not exist", "create it or pick another -o")
        with atomic_file(args.output) as tmp:
            Path(tmp).write_bytes(data)
        print(f"wrote {args.output} ({args.format}, {len(data):,} bytes)", file=sys.stderr)
        return 0
