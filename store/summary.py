"""Per-segment summaries of calls, so `--top` over any time range merges a few
small tables instead of reading every call (issue 15).

Each calls segment gets a summary, ``summaries/<segment>``, written with it
(store/writer.py, store/compact.py): one row
per (pid, tid, code id, kind, status) with the count of calls, the count and
sum of known durations and self times, and a quantile sketch of the durations.

The sketch is DDSketch's (Masson et al., VLDB 2019): a duration d ≥ 1 ns falls
in bucket ⌈log_γ d⌉ with γ = (1 + α)/(1 − α), and a bucket stands for the value
2γ^k/(γ + 1); any value in the bucket is within α of it, relatively. So a
nearest-rank percentile read from merged buckets is within ``ALPHA`` (1 %) of
the exact one (plus rounding to whole ns); zero durations have their own bucket
(``ZERO``). Each bucket also keeps its shortest and longest duration, exactly:
an estimate is never put outside them, and a bucket whose calls all took the
same time gives that time — so a function called a few times, or always taking
the same time, gets its exact percentiles. Counts and totals merge exactly. Pure: tables in, tables out.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
ZERO = -1                 # the bucket of durations of 0 ns
NONE = -2                 # calls of unknown duration (counted, in no percentile)
KEYS = ("pid", "tid", "code_id", "kind", "status")
FOLDER = "summaries"
BUCKET_MAX = 3000         # γ^3000 ns is far beyond any duration: larger buckets are not a sketch's
SCHEMA = pa.schema([
    ("pid", pa.int32()), ("tid", pa.int32()), ("code_id", pa.uint32()),
    ("kind", pa.string()), ("status", pa.string()),
    ("calls", pa.int64()), ("timed", pa.int64()), ("total_ns", pa.int64()),
    ("self_n", pa.int64()), ("self_ns", pa.int64()),
    ("min_ns", pa.int64()), ("max_ns", pa.int64()),      # of the known durations: exact
    ("buckets", pa.list_(pa.int32())), ("counts", pa.list_(pa.int64())),
    ("lows", pa.list_(pa.int64())), ("highs", pa.list_(pa.int64())),   # each bucket's extremes
])


def bucket_of(durations: np.ndarray) -> np.ndarray:
    """The sketch's bucket of each duration (ns, ≥ 0)."""
    d = np.asarray(durations, dtype=np.float64)
    k = np.ceil(np.log(np.maximum(d, 1.0)) / np.log(GAMMA)).astype(np.int32)
    k[d <= 0] = ZERO
    return k


def value_of(buckets: np.ndarray) -> np.ndarray:
    """The duration a bucket stands for (ns, rounded)."""
    k = np.clip(np.asarray(buckets, dtype=np.float64), ZERO, BUCKET_MAX)
    return np.where(k == ZERO, 0, np.rint(2 * GAMMA ** k / (GAMMA + 1))).astype(np.int64)


def location(segment: str) -> str:
    """Where a calls segment's summary lives, relative to the recording: under
    summaries/, by the segment's own path (outside the folders whose files
    session.json lists: a summary is derived, never the only copy of anything)."""
    return f"{FOLDER}/{segment}"


def _keyed(calls: pa.Table) -> pa.Table:
    """The calls' key columns as plain types, with their durations and self times."""
    return pa.table({
        "pid": calls["pid"], "tid": calls["tid"], "code_id": calls["code_id"],
        "kind": pc.cast(calls["kind"], pa.string()), "status": pc.cast(calls["status"], pa.string()),
        "duration_ns": calls["duration_ns"], "self_ns": calls["self_ns"],
    })


def summarize(calls: pa.Table) -> pa.Table:
    """One calls segment's summary (``SCHEMA``): two hash aggregations, by key
    and bucket, then by key (calls of unknown duration sit in bucket ``NONE``)."""
    t = _keyed(calls)
    dur = t["duration_ns"].to_numpy(zero_copy_only=False)
    known = ~np.asarray(pc.is_null(t["duration_ns"]).to_numpy(zero_copy_only=False), dtype=bool)
    bucket = np.full(len(t), NONE, np.int32)
    bucket[known] = bucket_of(dur[known])
    t = t.append_column("bucket", pa.array(bucket))
    hist = t.group_by([*KEYS, "bucket"], use_threads=False).aggregate([
        ("duration_ns", "count", pc.CountOptions("all")), ("duration_ns", "count"), ("duration_ns", "sum"),
        ("self_ns", "count"), ("self_ns", "sum"), ("duration_ns", "min"), ("duration_ns", "max")])
    # keys first, then the aggregates in the order asked (two columns share a name)
    hist = hist.rename_columns([*KEYS, "bucket", "calls", "timed", "total_ns", "self_n", "self_ns", "lo", "hi"])
    out = hist.group_by(list(KEYS), use_threads=False).aggregate([
        ("calls", "sum"), ("timed", "sum"), ("total_ns", "sum"), ("self_n", "sum"), ("self_ns", "sum"),
        ("lo", "min"), ("hi", "max"), ("bucket", "list"), ("timed", "list"), ("lo", "list"), ("hi", "list")])
    out = out.rename_columns([*KEYS, "calls", "timed", "total_ns", "self_n", "self_ns", "min_ns", "max_ns",
                              "buckets", "counts", "lows", "highs"])
    return pa.table({f.name: pc.cast(pc.fill_null(out[f.name], 0) if f.name in ("total_ns", "self_ns")
                                     else out[f.name], f.type) for f in SCHEMA}, schema=SCHEMA)


def buckets(summary: pa.Table) -> pa.Table:
    """A summary's sketches as rows: its key columns, bucket, n."""
    flat = pc.list_flatten(summary["buckets"])
    parent = pc.list_parent_indices(summary["buckets"])
    rows = {k: pc.take(summary[k], parent) for k in KEYS}
    out = pa.table({**rows, "bucket": flat, "n": pc.list_flatten(summary["counts"]),
                    "lo": pc.list_flatten(summary["lows"]), "hi": pc.list_flatten(summary["highs"])})
    return out.filter(pc.not_equal(out["bucket"], NONE))


def of_rows(calls: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Calls read row by row (a segment only partly in range, or one without a
    summary) in the same two forms a summary gives: (aggregates, bucket rows)."""
    s = summarize(calls)
    return s, buckets(s)
