"""`scope query DIR`: rows, slowest calls or top functions of a recording."""
from __future__ import annotations

import sys

import pyarrow as pa

from scope import kinds

from ..errors import UsageError
from ..store import query
from ..store.fleet import align, open_many
from ..store.query import parse_time
from ..text import shown
from ..units import MAX_COUNT, MAX_PID, whole_number
from ..units import parse_time as time_argument
from .folders import add_folder_arguments, folders_of
from .output import FORMATS, human_wanted, write_table
from .query_modes import TOP_SORT, add_modes, chosen

TERMINAL_ROWS = 50     # a listing on a terminal stops here unless --limit says otherwise


# --kind span means both ends of a span; --kind gc / import both ends of those
ALIASES = {"span": ("span_begin", "span_end"), "gc": ("gc_start", "gc_done"),
           "import": ("import_start", "import_done")}


class QueryCommand:
    help = "answer questions about a recording"

    def prepare_parser(self, parser) -> None:
        add_folder_arguments(parser, many=True)
        parser.add_argument("--pid", type=whole_number(0, MAX_PID))
        parser.add_argument("--tid", type=whole_number(0, MAX_PID))
        parser.add_argument("--function", metavar="GLOB", help="function (or module) name, e.g. 'handle_*'")
        parser.add_argument("--file", metavar="GLOB", help="source file path, e.g. '*/app/*.py'")
        parser.add_argument("--kind", action="append", metavar="KIND",
                            help=f"event kind ({', '.join(kinds.NAMES.values())}, or span, gc, "
                                 "import for both ends); repeatable")
        parser.add_argument("--since", metavar="T", type=time_argument,
                            help="seconds from the start, or ISO wall time")
        parser.add_argument("--until", metavar="T", type=time_argument,
                            help="seconds from the start, or ISO wall time")
        add_modes(parser)
        parser.add_argument("--scope-frames", action="store_true",
                            help="also show scope's own code in the target (the shim's switch thread and "
                                 "import, its boot sitecustomize): hidden by default")
        parser.add_argument("--hide-idle", action="store_true",
                            help="leave out the usual waiting frames (threading waits, queue.get, selectors, "
                                 "Future.result, …): without --offcpu their time is waiting, not work")
        parser.add_argument("--live", action="store_true",
                            help="a recording in progress: also what has not reached disk yet "
                                 "(asked from its collector; the disk alone if it is gone)")
        parser.add_argument("--sort", choices=tuple(TOP_SORT), metavar="KEY",
                            help=f"--top's order: {', '.join(TOP_SORT)} (default total)")
        parser.add_argument("--exact", action="store_true",
                            help="--top from every call: exact percentiles (by default they come from "
                                 "each segment's summary, within 1 %%, and counts and totals are exact)")
        parser.add_argument("--limit", type=whole_number(0, MAX_COUNT), metavar="N",
                            help=f"print at most N rows (on a terminal, listings stop at {TERMINAL_ROWS} "
                                 "unless given)")
        parser.add_argument("--format", choices=FORMATS, default=None,
                            help="table (the default: units and separators on a terminal, exact numbers "
                                 "when piped), json or csv (exact numbers)")

    def run(self, args) -> int:
        table, more, note = answer(args)
        write_table(table, args.format)
        if more:
            print(more)
        if note and human_wanted(args.format):
            print(f"({note})")
        return 0


def answer(args) -> tuple[pa.Table, str | None, str | None]:
    """The rows `scope query` prints for a parsed command line (``more``: what the
    rows a terminal does not show would take; ``note``: said below a table).
    `scope mcp`'s tools answer through it, so they give what the command gives."""
    wanted = []
    for kind in args.kind or ():
        if kind in ALIASES:
            wanted.extend(ALIASES[kind])
        elif kind in kinds.BY_NAME:
            wanted.append(kind)
        else:
            raise UsageError(f"unknown --kind {kind!r}",
                             f"choose from {', '.join([*kinds.NAMES.values(), *ALIASES])}")
    for name in ("slowest", "limit"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise UsageError(f"--{name} must not be negative", f"e.g. --{name} 10")
    folders = folders_of(args, "query", many=True)
    if args.sort is not None and not args.top:
        raise UsageError("--sort orders --top's rows", "add --top, or drop --sort")
    if args.exact and not args.top:
        raise UsageError("--exact is for --top's percentiles", "add --top, or drop --exact")
    mode, value = chosen(args)
    recs = align(open_many(folders, live=args.live)) if mode.timeline else open_many(folders)
    if mode.one_recording and len(recs) > 1:
        raise UsageError(f"--{mode.name} takes one recording ({mode.one_recording})",
                         f"give the one folder its {mode.metavar} came from")
    f = query.Filters(pid=args.pid, tid=args.tid, function=args.function, file=args.file,
                      kinds=tuple(wanted), since=args.since, until=args.until,
                      scope_frames=args.scope_frames, hide_idle=args.hide_idle)
    for option in ("at", "since", "until"):
        when = getattr(args, option)
        if when is not None:
            _say_if_outside(option, when, recs)
    table, note = mode.answer(recs, f, value, args)
    limit = args.limit
    if limit is None and mode.listing and human_wanted(args.format) and len(table) > TERMINAL_ROWS:
        limit = TERMINAL_ROWS
        more = (f"({TERMINAL_ROWS} of {len(table):,} rows: --limit N shows more, --format csv or a "
                "pipe all of them)")
    else:
        more = None
    if limit is not None:
        table = table.slice(0, limit)
    return table, more, note


def _say_if_outside(option: str, when: str, recs) -> None:
    """A note on stderr when a time given lies outside every recording: the
    answer is then empty or the state at an edge, and should not look like one.
    A time too far from a recording to be one (an ISO time decades away) is
    refused here, naming its option, before any question is asked."""
    spans = []
    for rec in recs:
        try:
            t = parse_time(when, rec)
        except UsageError as exc:
            raise UsageError(f"--{option}: {exc}", exc.fix) from None
        end = rec.meta.get("stopped_ns")
        if end is None or rec.start_ns <= t <= end:     # still recording: its end is not known
            return
        spans.append((end - rec.start_ns) / 1e9)
    longest = max(spans, default=0.0)
    print(f"scope: note: {shown(when)} lies outside the recording (it spans 0 to {longest:.3f} s)"
          if len(recs) == 1 else f"scope: note: {shown(when)} lies outside every recording given",
          file=sys.stderr)
