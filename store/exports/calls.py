"""The calls every export writes: placed in time, named, nested.

Only calls whose entry was seen are placed in time; a call still running at
the end is closed at the recording's stop; a broken call (its return lost) is
left out, its children stay under its caller. Names are data, never
interpreted. Pure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scope import kinds

from .. import calltree
from ..names import named_calls
from ..reader import Recording


@dataclass(frozen=True)
class Call:
    call_id: int
    parent_id: int | None
    pid: int
    tid: int
    name: str
    file: str
    line: int | None
    start: int
    end: int


def placed_table(rec: Recording) -> pa.Table:
    """Calls and spans with a known start, each with an end (the stop if still
    running): call_id, parent_id, pid, tid, name, file, line, start_ns, end_ns."""
    t = named_calls(rec.calls(), rec.code())
    t = t.filter(pc.is_valid(t["start_ns"]))
    status = pc.cast(t["status"], pa.string())
    running = pc.is_in(status, value_set=pa.array([kinds.OPEN, kinds.SPANS_GAP]))
    t = t.filter(pc.or_(pc.is_valid(t["end_ns"]), running))   # broken: where it ended is unknown
    stop = int(rec.meta.get("stopped_ns") or 0)
    end = pc.coalesce(t["end_ns"], pc.max_element_wise(t["start_ns"], pa.scalar(stop, pa.int64())))
    unknown = pc.binary_join_element_wise("<unknown #", pc.cast(t["code_id"], pa.string()), ">", "")
    return pa.table({"call_id": t["call_id"], "parent_id": t["parent_id"], "pid": t["pid"], "tid": t["tid"],
                     "name": pc.coalesce(t["function"], unknown), "file": pc.fill_null(t["file"], ""),
                     "line": t["first_line"], "start_ns": t["start_ns"], "end_ns": end})


def placed_calls(rec: Recording) -> list[Call]:
    """`placed_table` as Call values (for the exports that write one item per call)."""
    t = placed_table(rec)
    return [Call(r["call_id"], r["parent_id"], r["pid"], r["tid"], r["name"], r["file"], r["line"],
                 r["start_ns"], r["end_ns"]) for r in t.to_pylist()]


def thread_names(rec: Recording) -> dict[tuple[int, int], str]:
    t = rec.threads()
    return {(p, i): n for p, i, n in zip(t["pid"].to_pylist(), t["tid"].to_pylist(), t["name"].to_pylist()) if n}


def nested(calls: list[Call]) -> list[tuple[int, int, Call]]:
    """(time, 0 close / 1 open, call) in an order where every close comes before
    what opens at the same time, and a parent opens before its children."""
    tree = calltree.build(np.array([c.call_id for c in calls], np.int64),
                          np.array([-1 if c.parent_id is None else c.parent_id for c in calls], np.int64))
    marks = []
    for c, d in zip(calls, tree.depth.tolist()):
        marks.append((c.start, 1, d, c.call_id, c))
        marks.append((c.end, 0, -d, c.call_id, c))
    marks.sort(key=lambda m: (m[0], m[1], m[2], m[3] if m[1] else -m[3]))
    return [(m[0], m[1], m[4]) for m in marks]
