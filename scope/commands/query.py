"""`scope query --parquet DIR`: rows, slowest calls or top functions of a recording."""
from __future__ import annotations

from pathlib import Path

from scope import kinds

from ..errors import UsageError


# --kind span means both ends of a span; --kind gc / import both ends of those
ALIASES = {"span": ("span_begin", "span_end"), "gc": ("gc_start", "gc_done"),
           "import": ("import_start", "import_done")}


class QueryCommand:
    help = "answer questions about a recording"

    def prepare_parser(self, parser) -> None:
        parser.add_argument("--parquet", type=Path, required=True, metavar="DIR", nargs="+",
                            help="recording folders, or folders of recordings (a store such as "
                                 "./scope-recordings): several are lined up on wall time")
        parser.add_argument("--pid", type=int)
        parser.add_argument("--tid", type=int)
        parser.add_argument("--function", metavar="GLOB", help="function (or module) name, e.g. 'handle_*'")
        parser.add_argument("--file", metavar="GLOB", help="source file path, e.g. '*/app/*.py'")
        parser.add_argument("--kind", action="append", metavar="KIND",
                            help=f"event kind ({', '.join(kinds.NAMES.values())}, or span, gc, "
                                 "import for both ends); repeatable")
        parser.add_argument("--since", metavar="T", help="seconds from the start, or ISO wall time")
        parser.add_argument("--until", metavar="T", help="seconds from the start, or ISO wall time")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--calls", action="store_true", help="one row per call instead of per event")
        mode.add_argument("--slowest", type=int, metavar="N", help="the N longest calls")
        mode.add_argument("--top", action="store_true", help="one row per function, by total time")
        mode.add_argument("--flow", action="store_true",
                          help="message edges send -> receive with latency (--function matches the channel)")
        mode.add_argument("--offcpu", action="store_true",
                          help="off-CPU intervals (recorded with --offcpu) and the call running then")
        mode.add_argument("--sql", metavar="QUERY",
                          help="SQL (DuckDB) over views events, calls, code, threads, processes, "
                               "messages, offcpu, syscalls, sessions of every recording given")
        mode.add_argument("--at", metavar="T",
                          help="time travel: each thread's stack at T (seconds from the start or ISO "
                               "time), the latest shim states, the open spans")
        mode.add_argument("--around", type=int, metavar="CALL_ID",
                          help="a call with its ancestors, children and siblings")
        mode.add_argument("--tasks", action="store_true",
                          help="asyncio tasks: how long each ran and waited, how often it was resumed")
        mode.add_argument("--syscalls", action="store_true",
                          help="system calls (recorded with --syscalls) and the call running then")
        parser.add_argument("--live", action="store_true",
                            help="a recording in progress: also what has not reached disk yet "
                                 "(asked from its collector; the disk alone if it is gone)")
        parser.add_argument("--limit", type=int, metavar="N", help="print at most N rows")
        parser.add_argument("--format", choices=("table", "json", "csv"), default="table")

    def run(self, args) -> int:
        from ..store import query
        from .output import write_table

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
        if args.sql is not None:
            from ..store.sql import run_sql
            from ..store.fleet import open_many
            table = run_sql(open_many(args.parquet), args.sql)
            if args.limit is not None:
                table = table.slice(0, args.limit)
            write_table(table, args.format)
            return 0
        from ..store.fleet import align, each, open_many
        recs = align(open_many(args.parquet, live=args.live))
        f = query.Filters(pid=args.pid, tid=args.tid, function=args.function, file=args.file,
                          kinds=tuple(wanted), since=args.since, until=args.until)
        if args.around is not None and len(recs) > 1:
            raise UsageError("--around takes one recording (call ids are per recording)",
                             "give the one folder the call id came from")
        mode, sort = _mode(args, f)
        if args.top:
            table = query.top(recs, f)
        elif len(recs) == 1:
            table = mode(recs[0])
        else:
            table = each(recs, mode, sort=sort)
            if args.slowest is not None:
                table = table.slice(0, args.slowest)
        if args.limit is not None:
            table = table.slice(0, args.limit)
        write_table(table, args.format)
        return 0


def _mode(args, f):
    """The question for one recording, and how rows of several are ordered."""
    from ..store import query, travel
    if args.at is not None:
        return (lambda rec: travel.at(rec, query.parse_time(args.at, rec))), None
    if args.around is not None:
        return (lambda rec: travel.around(rec, args.around)), None
    if args.slowest is not None:
        return (lambda rec: query.slowest(rec, f, args.slowest)), [("duration_ns", "descending")]
    for flag, fn, key, order in (("flow", query.flow, "send_s", "ascending"),
                                 ("offcpu", query.offcpu, "time_s", "ascending"),
                                 ("tasks", query.tasks, "waiting_ns", "descending"),
                                 ("syscalls", query.syscalls, "time_s", "ascending"),
                                 ("calls", query.calls, "start_s", "ascending")):
        if getattr(args, flag):
            return (lambda rec, fn=fn: fn(rec, f)), [(key, order)]
    return (lambda rec: query.events(rec, f)), [("time_s", "ascending")]
