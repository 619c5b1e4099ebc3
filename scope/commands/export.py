"""`scope export DIR [--format svg|perfetto|chrome|speedscope|folded] [-o FILE]`."""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .folders import add_folder_arguments, folders_of

EXTENSIONS = {"svg": ".svg", "perfetto": ".pftrace", "chrome": ".json", "speedscope": ".speedscope.json",
              "folded": ".folded"}


class ExportCommand:
    help = ("write a recording as a picture or for another viewer: a flame graph (SVG, the default), "
            "Perfetto, Chrome JSON, speedscope, folded stacks")

    def prepare_parser(self, parser) -> None:
        from ..store.export import FORMATS
        add_folder_arguments(parser, many=False)
        parser.add_argument("--format", choices=FORMATS, default="svg",
                            help="svg (the default): an interactive flame graph for a browser (zoom, "
                                 "search); perfetto: Perfetto protobuf trace (ui.perfetto.dev; best for large "
                                 "recordings); chrome: Trace Event JSON (chrome://tracing, ui.perfetto.dev); "
                                 "speedscope: speedscope.app; folded: flamegraph.pl input")
        parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                            help="the file to write ('-' for standard output; default: the recording's "
                                 "name with the format's extension, here)")

    def run(self, args) -> int:
        import sys

        from ..store.export import WRITERS
        from ..store.fsutil import atomic_file
        from ..store.reader import open_recording
        (folder,) = folders_of(args, "export", many=False)
        if args.output is None:
            args.output = Path(f"{folder.resolve().name}{EXTENSIONS[args.format]}")
        if str(args.output) != "-" and args.output.is_dir():
            raise UsageError(f"{args.output} is a folder", "name the file to write, e.g. -o trace.json")
        text = WRITERS[args.format](open_recording(folder))
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
