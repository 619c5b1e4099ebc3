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


def _column(calls: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A nullable integer column as (values with nulls as 0, known)."""
    col = calls[name]
    known = ~np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False), dtype=bool)
    return pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(np.int64), known


def _ids(values) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids of the values (first seen, first numbered) and the distinct values."""
    enc = pc.dictionary_encode(values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values))
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary


def _small(col) -> tuple[np.ndarray, pa.Array]:
    """A string column of a few values (kind, status) as ids and its strings;
    a dictionary column as it is."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()        # chunks' dictionaries unified into one
    if pa.types.is_dictionary(col.type):
        return col.indices.to_numpy(zero_copy_only=False).astype(np.int64), col.dictionary.cast(pa.string())
    return _ids(pc.cast(col, pa.string()))


def _sum(ids: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums of values by id (bincount adds in float64: in two halves
    of 26 bits, each sum stays below 2**53, where float64 is exact)."""
    low = np.bincount(ids, weights=values & 0x3FFFFFF, minlength=n).astype(np.int64)
    high = np.bincount(ids, weights=values >> 26, minlength=n).astype(np.int64)
    return (high << 26) + low


def summarize(calls: pa.Table) -> pa.Table:
    """One calls segment's summary (``SCHEMA``). Each call gets a dense key id
    and a cell id (key, bucket) by dictionary encoding; cells are reduced by id,
    then keys (calls of unknown duration sit in bucket ``NONE``). Not pyarrow's
    hash group-by: under QEMU's TCG (the Debian 12 guest) it put equal keys in
    different groups, and --top counted wrong."""
    if not calls.num_rows:
        return SCHEMA.empty_table()
    pid = calls["pid"].to_numpy(zero_copy_only=False).astype(np.int64)
    tid = calls["tid"].to_numpy(zero_copy_only=False).astype(np.int64)
    dur, known = _column(calls, "duration_ns")
    self_ns, self_known = _column(calls, "self_ns")
    threads, thread_of = _ids((pid << 32) | (tid & 0xFFFFFFFF))
    kind, kind_of = _small(calls["kind"])
    status, status_of = _small(calls["status"])
    nk, ns = len(kind_of), len(status_of)
    # one int64 per key: (thread, kind, status) above the 32-bit code id
    upper = (threads * nk + kind) * ns + status
    key, key_of = _ids((upper << 32) | calls["code_id"].to_numpy(zero_copy_only=False).astype(np.int64))
    key_of = key_of.to_numpy(zero_copy_only=False)
    bucket = np.full(len(dur), NONE, np.int64)
    bucket[known] = bucket_of(dur[known])
    nb = int(bucket.max()) - NONE + 1
    cell, cell_of = _ids(key * nb + (bucket - NONE))
    cell_of = cell_of.to_numpy(zero_copy_only=False)
    n = len(cell_of)
    # per cell (key, bucket)
    c_key, c_bucket = cell_of // nb, cell_of % nb + NONE
    c_calls = np.bincount(cell, minlength=n)
    c_timed = np.bincount(cell, weights=known, minlength=n).astype(np.int64)
    c_total = _sum(cell, np.where(known, dur, 0), n)
    c_self_n = np.bincount(cell, weights=self_known, minlength=n).astype(np.int64)
    c_self = _sum(cell, np.where(self_known, self_ns, 0), n)
    big = np.iinfo(np.int64).max
    lo, hi = np.full(n, big), np.full(n, -1)
    np.minimum.at(lo, cell[known], dur[known])
    np.maximum.at(hi, cell[known], dur[known])
    # per key: its cells, in bucket order
    order = np.lexsort((c_bucket, c_key))
    c_key, c_bucket, c_calls, c_timed, c_total, c_self_n, c_self, lo, hi = (
        a[order] for a in (c_key, c_bucket, c_calls, c_timed, c_total, c_self_n, c_self, lo, hi))
    nkeys = len(key_of)
    offsets = pa.array(np.concatenate([[0], np.cumsum(np.bincount(c_key, minlength=nkeys))]).astype(np.int32))
    k_lo, k_hi = np.full(nkeys, big), np.full(nkeys, -1)
    np.minimum.at(k_lo, c_key, lo)
    np.maximum.at(k_hi, c_key, hi)
    untimed = c_timed == 0                 # the NONE cell: no duration, no extremes
    rest, st = np.divmod(key_of >> 32, ns)
    th, kd = np.divmod(rest, nk)
    pt = thread_of.to_numpy(zero_copy_only=False)[th]

    def listed(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
        return pa.ListArray.from_arrays(offsets, pa.array(values, mask=mask))
    return pa.table({
        "pid": pa.array(pt >> 32, pa.int32()), "tid": pa.array(pt & 0xFFFFFFFF, pa.int32()),
        "code_id": pa.array(key_of & 0xFFFFFFFF, pa.uint32()),
        "kind": pc.take(kind_of, pa.array(kd)), "status": pc.take(status_of, pa.array(st)),
        "calls": np.bincount(c_key, weights=c_calls, minlength=nkeys).astype(np.int64),
        "timed": np.bincount(c_key, weights=c_timed, minlength=nkeys).astype(np.int64),
        "total_ns": _sum(c_key, c_total, nkeys),
        "self_n": np.bincount(c_key, weights=c_self_n, minlength=nkeys).astype(np.int64),
        "self_ns": _sum(c_key, c_self, nkeys),
        "min_ns": pa.array(k_lo, mask=k_lo == big), "max_ns": pa.array(k_hi, mask=k_hi < 0),
        "buckets": listed(c_bucket.astype(np.int32)), "counts": listed(c_timed),
        "lows": listed(lo, untimed), "highs": listed(hi, untimed),
    }, schema=SCHEMA)


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
