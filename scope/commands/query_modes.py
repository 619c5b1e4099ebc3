"""`scope query`'s questions, one row each: the table builds the parser's
mutually exclusive flags and picks the answer, so a new question is one
`Mode` here (and its function in store/).

Each answer takes the recordings (aligned on one time line), the filters, the
flag's value and the command line, and gives a table and an optional note.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from ..store import query, travel
from ..store.fleet import each
from ..store.sql import run_sql
from ..units import MAX_COUNT, MAX_ID, whole_number
from ..units import parse_time as time_argument
from .output import human_wanted, without_unknown_waits

# --top --sort KEY: the column, largest first (function: by name)
TOP_SORT = {"total": "total_ns", "self": "self_ns", "cpu": "self_cpu_ns", "wait": "self_wait_ns",
            "calls": "calls", "mean": "mean_ns", "p50": "p50_ns",
            "p95": "p95_ns", "p99": "p99_ns", "function": "function"}


@dataclass(frozen=True)
class Mode:
    name: str                        # --name (and the parser's dest)
    help: str
    answer: Callable                 # (recs, filters, value, args) -> (table, note | None)
    metavar: str | None = None       # takes a value (else a switch)
    type: Callable | None = None
    listing: bool = True             # rows that run long: a terminal shows the first ones
    one_recording: str | None = None  # why it takes one recording only
    timeline: bool = True            # recordings on one time line, live ones with their hot tier
                                     # (False: the files as they are)


def per_recording(question: Callable, order: list[tuple[str, str]] | None) -> Callable:
    """An answer asking each recording (``question(rec, f, value)``); rows of
    several, with their recording and host, merged in ``order``."""
    def answer(recs, f, value, args):
        if len(recs) == 1:
            return question(recs[0], f, value), None
        return each(recs, lambda rec: question(rec, f, value), sort=order), None
    return answer


def _slowest(recs, f, n, args):
    table, _ = per_recording(lambda rec, f, n: query.slowest(rec, f, n), [("duration_ns", "descending")])(
        recs, f, n, args)
    return table.slice(0, n), None


def _top(recs, f, value, args):
    table, note = without_unknown_waits(query.top(recs, f, exact=getattr(args, "exact", False)),
                                        human_wanted(args.format))
    if args.sort not in (None, "total"):
        key = TOP_SORT[args.sort]
        table = table.sort_by([(key, "ascending" if key == "function" else "descending")])
    return table, note


def _sql(recs, f, text, args) -> tuple[pa.Table, None]:
    # --limit N inside the query: DuckDB stops at N + 1 rows instead of building them all
    return run_sql(recs, text, rows=getattr(args, "limit", None)), None


MODES = (
    Mode("calls", "one row per call instead of per event",
         per_recording(lambda rec, f, _: query.calls(rec, f), [("start_s", "ascending")])),
    Mode("slowest", "the N longest calls", _slowest, metavar="N", type=whole_number(0, MAX_COUNT),
         listing=False),
    Mode("top", "one row per function, by total time", _top, listing=False),
    Mode("flow", "message edges send -> receive with latency (--function matches the channel)",
         per_recording(lambda rec, f, _: query.flow(rec, f), [("send_s", "ascending")])),
    Mode("offcpu", "off-CPU intervals (recorded with --offcpu) and the call running then",
         per_recording(lambda rec, f, _: query.offcpu(rec, f), [("time_s", "ascending")])),
    Mode("sql", "SQL (DuckDB) over views events, calls, code, threads, processes, messages, offcpu, "
                "syscalls, sessions of every recording given", _sql, metavar="QUERY", listing=False,
         timeline=False),
    Mode("at", "time travel: each thread's stack at T (seconds from the start or ISO time), the latest "
               "shim states, the open spans",
         per_recording(lambda rec, f, t: travel.at(rec, query.parse_time(t, rec)), None),
         metavar="T", type=time_argument, listing=False),
    Mode("around", "a call with its ancestors, children and siblings",
         per_recording(lambda rec, f, call_id: travel.around(rec, call_id), None),
         metavar="CALL_ID", type=whole_number(0, MAX_ID), listing=False,
         one_recording="call ids are per recording"),
    Mode("tasks", "asyncio tasks: how long each ran and waited, how often it was resumed",
         per_recording(lambda rec, f, _: query.tasks(rec, f), [("waiting_ns", "descending")])),
    Mode("syscalls", "system calls (recorded with --syscalls) and the call running then",
         per_recording(lambda rec, f, _: query.syscalls(rec, f), [("time_s", "ascending")])),
)
EVENTS = Mode("events", "events in time order (without a question flag)",
              per_recording(lambda rec, f, _: query.events(rec, f), [("time_s", "ascending")]))


def add_modes(parser) -> None:
    group = parser.add_mutually_exclusive_group()
    for m in MODES:
        if m.metavar is None:
            group.add_argument(f"--{m.name}", action="store_true", help=m.help)
        else:
            group.add_argument(f"--{m.name}", metavar=m.metavar, type=m.type, help=m.help)


def chosen(args) -> tuple[Mode, object]:
    """The question asked on the command line, and its flag's value."""
    for m in MODES:
        value = getattr(args, m.name)
        if value is not None and value is not False:
            return m, value
    return EVENTS, None
