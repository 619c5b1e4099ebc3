"""`scope explain DIR`: what is wrong in a recording and where, with the evidence."""
from __future__ import annotations

import sys

from ..errors import UsageError
from ..store.explain import DETECTORS, explain
from ..store.explain.render import FORMATS
from ..store.explain.thresholds import parse
from ..store.reader import open_recording
from .folders import add_folder_arguments, folders_of
from .llm import narrative, provider
from .output import human_wanted


class ExplainCommand:
    help = ("findings over a recording (repeated work, lock contention, exceptions as control flow, rare slow "
            "paths, serialized awaits, GC pressure, import cost, hot spots), each with its evidence, why it "
            "matters and what to try")

    def prepare_parser(self, parser) -> None:
        add_folder_arguments(parser, many=False)
        parser.add_argument("--format", choices=tuple(FORMATS), default=None,
                            help="table (the default), markdown or json")
        parser.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                            help="change a detector's threshold (docs/explain.md lists them), e.g. "
                                 "--threshold repeat_calls=50; repeatable")
        parser.add_argument("--only", metavar="DETECTOR[,DETECTOR…]",
                            help="run only these detectors: " + ", ".join(DETECTORS))
        parser.add_argument("--llm", action="store_true",
                            help="add a narrative written by a language model from the findings and aggregate "
                                 "numbers only (an OpenAI-compatible endpoint: SCOPE_LLM_URL, SCOPE_LLM_MODEL, "
                                 "SCOPE_LLM_KEY; none by default)")

    def run(self, args) -> int:
        (folder,) = folders_of(args, "explain", many=False)
        thresholds = parse(args.threshold)
        only = [d.strip() for d in args.only.split(",")] if args.only else None
        unknown = [d for d in only or () if d not in DETECTORS]
        if unknown:
            raise UsageError(f"--only {args.only!r}: no detector {unknown[0]!r}", "detectors: " + ", ".join(DETECTORS))
        if args.llm:
            provider()          # configured, before the work: else one line saying how
        report = explain(open_recording(folder), thresholds, only)
        if args.llm:
            report.narrative = narrative(report)
        fmt = args.format or "table"
        # a table: units and separators on a terminal or when asked for, exact numbers when piped
        sys.stdout.write(FORMATS[fmt](report, human_wanted(args.format) if fmt == "table" else True))
        return 0
