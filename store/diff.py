"""`scope diff A B`: per-function changes between two recordings.

For each function (by name and file) in either recording: calls and total time
in A and B, the change in total and in median duration, and whether the
durations differ beyond chance — a two-sided Mann–Whitney U test (normal
approximation with a tie correction; no distribution assumed, robust to the
long tails call durations have). p < 0.01 with at least MIN_CALLS calls on each
side is marked significant.
"""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scope import kinds

from .names import named_calls
from .reader import Recording

MIN_CALLS = 5
ALPHA = 0.01


def _durations(rec: Recording) -> dict[tuple[str, str], np.ndarray]:
    """Durations per function, by qualified name and file — not first line, which
    moves between the two versions of a program a diff usually compares."""
    t = named_calls(rec.calls(), rec.code())
    t = t.filter(pc.and_(pc.equal(pc.cast(t["kind"], pa.string()), "call"),
                         pc.is_in(pc.cast(t["status"], pa.string()), value_set=pa.array(kinds.COMPLETED))))
    out: dict[tuple[str, str], list[int]] = {}
    for fn, fl, d in zip(t["function"].to_pylist(), t["file"].to_pylist(), t["duration_ns"].to_pylist()):
        out.setdefault((fn or "?", fl or ""), []).append(-1 if d is None else d)
    return {k: np.array(v, dtype=np.int64) for k, v in out.items()}


def mann_whitney_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of the Mann–Whitney U test (normal approximation)."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return 1.0
    both = np.concatenate([a, b]).astype(np.float64)
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both))
    sorted_vals = both[order]
    i = 0
    ties = 0.0
    while i < len(both):                      # average ranks over ties
        j = i
        while j + 1 < len(both) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)
    return max(0.0, min(1.0, math.erfc(max(z, 0) / math.sqrt(2))))


def diff(a: Recording, b: Recording) -> pa.Table:
    da, db = _durations(a), _durations(b)
    rows = []
    for key in sorted(set(da) | set(db)):
        xa, xb = da.get(key, np.zeros(0, np.int64)), db.get(key, np.zeros(0, np.int64))
        ta, tb = xa[xa >= 0], xb[xb >= 0]
        p = mann_whitney_p(ta, tb) if len(ta) and len(tb) else None
        rows.append({
            "function": key[0], "file": key[1], "calls_a": len(xa), "calls_b": len(xb),
            "total_a_ns": int(ta.sum()), "total_b_ns": int(tb.sum()),
            "total_change_ns": int(tb.sum()) - int(ta.sum()),
            "median_a_ns": int(np.median(ta)) if len(ta) else None,
            "median_b_ns": int(np.median(tb)) if len(tb) else None,
            "p_value": p,
            "significant": bool(p is not None and p < ALPHA and len(ta) >= MIN_CALLS and len(tb) >= MIN_CALLS),
        })
    rows.sort(key=lambda r: -abs(r["total_change_ns"]))
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("function", pa.string()), ("file", pa.string()), ("calls_a", pa.int64()), ("calls_b", pa.int64()),
        ("total_a_ns", pa.int64()), ("total_b_ns", pa.int64()), ("total_change_ns", pa.int64()),
        ("median_a_ns", pa.int64()), ("median_b_ns", pa.int64()), ("p_value", pa.float64()),
        ("significant", pa.bool_())]))
