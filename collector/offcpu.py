"""Attribute off-CPU intervals to the Python call running when the thread left the CPU.

Pure, and done once the calls are known (not while events stream in, where
the two transports' batches can arrive in any order): per thread, take the
latest call that started at or before the moment, then walk up its parents
until one had not yet returned.
"""
from __future__ import annotations

import numpy as np


def attribute(cols: dict, intervals: list[tuple]) -> list[tuple]:
    """intervals: (pid, tid, start_ns, ..., _) -> the same tuples with the last
    item the id of the call running at start_ns on that thread (-1: none)."""
    if not intervals:
        return []
    call_id, parent = cols["call_id"], cols["parent_id"]
    start, end = cols["start_ns"], cols["end_ns"]
    pid, tid = cols["pid"], cols["tid"]
    row_of = {int(c): i for i, c in enumerate(call_id.tolist())}
    by_thread: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    seen = start >= 0
    for key in {(p, t) for p, t, *_ in intervals}:
        rows = np.flatnonzero(seen & (pid == key[0]) & (tid == key[1]))
        order = rows[np.argsort(start[rows], kind="stable")]
        by_thread[key] = (order, start[order])
    out = []
    for p, t, ts, *rest in intervals:
        rows, starts = by_thread[(p, t)]
        found = -1
        i = int(np.searchsorted(starts, ts, side="right")) - 1
        r = int(rows[i]) if i >= 0 else -1
        while r >= 0:
            if end[r] < 0 or end[r] >= ts:     # still running then (or never returned)
                found = int(call_id[r])
                break
            r = row_of.get(int(parent[r]), -1) if parent[r] >= 0 else -1
        out.append((p, t, ts, *rest[:-1], found))
    return out
