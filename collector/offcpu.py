"""Attribute off-CPU intervals to the Python call running when the thread left the CPU.

Pure, and done once the calls are known (not while events stream in, where
the two transports' batches can arrive in any order): store/calltree.py's
`running_at`, which places GC pauses and imports for `scope explain` too.
"""
from __future__ import annotations

import numpy as np

from ..store.calltree import parent_rows, running_at, untangle


def attribute(cols: dict, intervals: list[tuple]) -> list[tuple]:
    """intervals: (pid, tid, start_ns, ..., _) -> the same tuples with the last
    item the id of the call running at start_ns on that thread (-1: none)."""
    if not intervals:
        return []
    call_id = np.asarray(cols["call_id"], np.int64)
    parent, _ = untangle(parent_rows(call_id, np.asarray(cols["parent_id"], np.int64)))
    rows = running_at(cols["pid"], cols["tid"], cols["start_ns"], cols["end_ns"], parent,
                      [(p, t, ts) for p, t, ts, *_ in intervals])
    found = np.where(rows >= 0, call_id[np.maximum(rows, 0)], -1).tolist() if len(call_id) else [-1] * len(rows)
    return [(p, t, ts, *rest[:-1], f) for (p, t, ts, *rest), f in zip(intervals, found)]
