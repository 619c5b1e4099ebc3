"""`--top` from per-segment summaries (store/summary.py): the segments wholly
inside the time range are merged from their summaries, the others (at the
range's edges, or without a summary) read row by row, as the exact `--top`
reads them. Counts, totals, self times and means are exact; the percentiles
are within the sketch's ``ALPHA`` of the exact nearest-rank values.

Used by `query.top` unless asked to be exact, or when the recording cannot be
answered this way (returns None): off-CPU time per call (`--offcpu`) needs
every call. Pure functions over tables, I/O through the Recording.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scope import kinds

from . import summary
from .filters import Filters, bounds, mask
from .names import plain_ids, with_names
from .reader import Recording
from .waits import has_offcpu

TOP_SCHEMA = pa.schema([("function", pa.string()), ("file", pa.string()), ("line", pa.int32()),
                        ("calls", pa.int64()), ("total_ns", pa.int64()), ("self_ns", pa.int64()),
                        ("self_pct", pa.float64()), ("self_cpu_ns", pa.int64()), ("self_wait_ns", pa.int64()),
                        ("mean_ns", pa.int64()), ("p50_ns", pa.int64()), ("p95_ns", pa.int64()),
                        ("p99_ns", pa.int64())])


def _inside(entry: dict, lo: int | None, hi: int | None) -> bool:
    """Every call of the segment starts (or, start unknown, ends) within [lo, hi]."""
    if lo is None and hi is None:
        return True
    first, last = entry.get("min_ns"), entry.get("max_ns")    # earliest start, latest end
    return first is not None and last is not None and (lo is None or first >= lo) and (hi is None or last <= hi)


def partials(rec: Recording, f: Filters) -> tuple[pa.Table, pa.Table] | None:
    """(aggregates, bucket rows) of the calls ``f`` selects, with names; None
    when this recording must be answered exactly."""
    entries = rec.calls_entries()
    if entries is None or has_offcpu(rec):
        return None
    lo, hi = bounds(f, rec)
    keys = f.code_keys(rec.code())
    whole, aggs = set(), []
    for e in entries:
        s = rec.summary(e["file"]) if _inside(e, lo, hi) else None
        # a summary is used only if it counts the segment's rows (one left from a replaced file is not)
        if s is not None and e.get("rows") == (pc.sum(s["calls"]).as_py() or 0):
            whole.add(e["file"])
            aggs.append(s)
    rest = {e["file"] for e in entries} - whole
    untimed = dataclasses.replace(f, since=None, until=None)    # the summaries are inside the range
    parts = []
    for s in aggs:
        parts.append(s.filter(mask(s, untimed, keys, s["pid"], rec)))
    if rest:
        t = rec.calls(lo, hi, by_start=True, code_ids=plain_ids(keys), only=rest)
        when = pc.coalesce(t["start_ns"], t["end_ns"])
        parts.append(summary.summarize(t.filter(mask(t, f, keys, when, rec))))
    agg = pa.concat_tables(parts) if parts else summary.SCHEMA.empty_table()
    return with_names(agg, rec.code()), with_names(summary.buckets(agg), rec.code())


def top_by_summaries(recs: list[Recording], f: Filters) -> pa.Table | None:
    """`--top` over these recordings from their summaries (None: not possible)."""
    aggs, bkts = [], []
    for rec in recs:
        got = partials(rec, f)
        if got is None:
            return None
        aggs.append(got[0])
        bkts.append(got[1])
    return merge(pa.concat_tables(aggs), pa.concat_tables(bkts))


def _label(t: pa.Table) -> pa.Array:
    """One label per function: qualified name, file and first line (as top_of)."""
    unknown = pc.binary_join_element_wise("<unknown #", pc.cast(t["code_id"], pa.string()), ">", "")
    fn = pc.if_else(pc.is_null(t["function"]), unknown, t["function"])
    label = pc.binary_join_element_wise(fn, pc.fill_null(t["file"], ""),
                                        pc.fill_null(pc.cast(t["first_line"], pa.string()), ""), "\0")
    return label.combine_chunks() if isinstance(label, pa.ChunkedArray) else label


def merge(agg: pa.Table, bkt: pa.Table) -> pa.Table:
    """Rows of the top table from merged aggregates and sketch buckets (with names)."""
    done = pa.array(kinds.COMPLETED)
    agg = agg.filter(pc.is_in(agg["status"], value_set=done))
    bkt = bkt.filter(pc.is_in(bkt["status"], value_set=done))
    enc = pc.dictionary_encode(pa.chunked_array([_label(agg), _label(bkt)], pa.string()).combine_chunks())
    group = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    names = enc.dictionary.to_pylist()
    g_agg, g_bkt = group[: len(agg)], group[len(agg):]
    n = len(names)

    def col(t, name):
        return t[name].to_numpy(zero_copy_only=False).astype(np.int64)
    calls = np.bincount(g_agg, weights=col(agg, "calls"), minlength=n).astype(np.int64)
    timed = np.bincount(g_agg, weights=col(agg, "timed"), minlength=n).astype(np.int64)
    total = np.bincount(g_agg, weights=col(agg, "total_ns"), minlength=n).astype(np.int64)
    self_n = np.bincount(g_agg, weights=col(agg, "self_n"), minlength=n)
    selfs = np.bincount(g_agg, weights=col(agg, "self_ns"), minlength=n).astype(np.int64)
    # each function's buckets merged (counts summed, extremes kept), in order: the nearest
    # rank by cumulative count, its value the bucket's, never outside the bucket's extremes
    b = col(bkt, "bucket") - summary.NONE
    width = int(b.max()) + 1 if len(b) else 1
    cell, at = np.unique(g_bkt * width + b, return_inverse=True)
    gs, bs = cell // width, cell % width + summary.NONE
    counts = np.bincount(at, weights=col(bkt, "n"), minlength=len(cell)).astype(np.int64)
    lows = np.full(len(cell), np.iinfo(np.int64).max)
    np.minimum.at(lows, at, col(bkt, "lo"))
    highs = np.full(len(cell), -1)
    np.maximum.at(highs, at, col(bkt, "hi"))
    cum = np.cumsum(counts)
    before = np.concatenate([[0], np.cumsum(np.bincount(gs, weights=counts, minlength=n).astype(np.int64))[:-1]])
    starts = np.searchsorted(gs, np.arange(n))

    def rank(p: float) -> np.ndarray:
        if not len(bs):
            return np.zeros(n, np.int64)
        k = np.maximum(np.ceil(p / 100 * timed).astype(np.int64), 1)
        i = np.clip(np.maximum(np.searchsorted(cum, before + k, side="left"), starts), 0, len(bs) - 1)
        return np.minimum(np.maximum(summary.value_of(bs[i]), lows[i]), highs[i])
    p50, p95, p99 = rank(50), rank(95), rank(99)
    all_self = float(selfs[self_n > 0].sum())
    rows = []
    for g, lab in enumerate(names):
        if not calls[g]:
            continue
        name, file, line = lab.rsplit("\0", 2)     # a name may hold a NUL (a crafted recording)
        t, has_self = timed[g] > 0, self_n[g] > 0
        rows.append({
            "function": name, "file": file or None, "line": int(line) if line else None, "calls": int(calls[g]),
            "total_ns": int(total[g]) if t else None,
            "self_ns": int(selfs[g]) if has_self else None,
            "self_pct": float(selfs[g] * 100 / all_self) if has_self and all_self else None,
            "self_cpu_ns": None, "self_wait_ns": None,
            "mean_ns": int(total[g] // timed[g]) if t else None,
            "p50_ns": int(p50[g]) if t else None, "p95_ns": int(p95[g]) if t else None,
            "p99_ns": int(p99[g]) if t else None,
        })
    rows.sort(key=lambda r: (-(r["total_ns"] or 0), -r["calls"], r["function"] or "", r["line"] or 0))
    return pa.Table.from_pylist(rows, schema=TOP_SCHEMA)
