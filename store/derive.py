"""Call and return events from the calls table (recordings of schema 2).

A shim ring's plain call and plain return records (no flags, no generator:
collector/shmring.mark_derived) are not stored in `events`: the calls row they
belong to stands for them (column `derived`: 1 its call, 2 its return). This
is most of a busy program's events, so the collector writes each call once.
A reader asking for events gets them back here, as they were recorded: the
call at start_ns with its code's first line, the return at end_ns with line
0, both with flags 0 and arg 0, on the row's process and thread (a plain
record is never a generator's, so its return comes on the thread of its call).

Order: stored and derived events are merged by time. At one nanosecond on one
thread, derived returns come before derived calls, the returns innermost first
and the calls outermost first — the order they happened in unless a call took
0 ns, which a nanosecond clock read twice around a Python call never shows.

Pure functions over Arrow tables; `Recording.events` does the reading.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from scope import kinds

from . import schema

# the `derived` bits, as the correlator sets them (collector/correlate.py, and
# collector/_correlate.c's copy, which tests/unit/test_probes.py checks)
D_CALL, D_RETURN = 1, 2
BY_KIND = {"call": D_CALL, "return": D_RETURN}
# what deriving reads of the calls table
CALL_COLUMNS = ["call_id", "pid", "tid", "code_id", "start_ns", "end_ns", "derived"]


def derived_events(calls: pa.Table) -> int:
    """How many events the rows of a calls table stand for."""
    if "derived" not in calls.column_names or not calls.num_rows:
        return 0
    d = _bits(calls)
    return int(np.count_nonzero(d & D_CALL) + np.count_nonzero(d & D_RETURN))


def wanted(asked: tuple[str, ...]) -> tuple[str, ...]:
    """Which derived kinds a read of these event kinds needs (all kinds: both)."""
    return tuple(k for k in BY_KIND if not asked or k in asked)


def where(lo: int | None, hi: int | None, want: tuple[str, ...]) -> ds.Expression:
    """The calls rows standing for an event of these kinds in [lo, hi]: a filter
    pushed down to the files (row groups whose times or bits cannot match are skipped)."""
    def within(col: str) -> ds.Expression:
        expr = ds.field(col).is_valid()
        expr = expr & (ds.field(col) >= lo) if lo is not None else expr
        return expr & (ds.field(col) <= hi) if hi is not None else expr
    parts = {"call": ds.field("derived").isin([D_CALL, D_CALL | D_RETURN]) & within("start_ns"),
             "return": ds.field("derived").isin([D_RETURN, D_CALL | D_RETURN]) & within("end_ns")}
    expr = None
    for k in want:
        expr = parts[k] if expr is None else expr | parts[k]
    return expr


def first_lines(code: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(sorted keys pid << 32 | code id, their first lines) of a code table (the
    first row of a key where it appears twice: a name learnt again)."""
    keys = (code["pid"].to_numpy(zero_copy_only=False).astype(np.int64) << 32) | \
        code["code_id"].to_numpy(zero_copy_only=False).astype(np.int64)
    lines = pc.fill_null(code["first_line"], 0).to_numpy(zero_copy_only=False).astype(np.int32)
    keys, first = np.unique(keys, return_index=True)
    return keys, lines[first]


def _bits(calls: pa.Table) -> np.ndarray:
    return pc.fill_null(calls["derived"], 0).to_numpy(zero_copy_only=False).astype(np.int8)


def _times(col: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(col, -1).to_numpy(zero_copy_only=False)


def events_of(calls: pa.Table, lines: tuple[np.ndarray, np.ndarray], lo: int | None, hi: int | None,
              want: tuple[str, ...], columns: list[str] | None = None) -> pa.Table:
    """The events (schema.EVENTS, or its `columns`, in order) that these calls
    rows stand for, of the kinds wanted, in [lo, hi]; lines: first_lines() of
    the recording's code. Only the columns asked for are built."""
    names = list(columns) if columns else schema.EVENTS.names
    out_schema = pa.schema([schema.EVENTS.field(c) for c in names])
    if not calls.num_rows or not want:
        return out_schema.empty_table()
    bits = _bits(calls)
    start, end = _times(calls["start_ns"]), _times(calls["end_ns"])
    lo = -1 if lo is None else lo
    hi = np.iinfo(np.int64).max if hi is None else hi
    is_call = ((bits & D_CALL) != 0) & (start >= 0) & (start >= lo) & (start <= hi) if "call" in want \
        else np.zeros(len(bits), bool)
    is_ret = ((bits & D_RETURN) != 0) & (end >= 0) & (end >= lo) & (end <= hi) if "return" in want \
        else np.zeros(len(bits), bool)
    ids = calls["call_id"].to_numpy(zero_copy_only=False)
    if len(ids) > 1 and not (ids[1:] > ids[:-1]).all():    # rows by call id (a segment's already are)
        by_id = np.argsort(ids, kind="stable")
        start, end, is_call, is_ret, calls = start[by_id], end[by_id], is_call[by_id], is_ret[by_id], \
            calls.take(by_id)
    # returns first, by call id descending (innermost first), then calls by id
    # ascending (outermost first): a stable sort by time keeps that order at a
    # tie, and finds the two runs nearly sorted already (cheap)
    rets, called = np.flatnonzero(is_ret)[::-1], np.flatnonzero(is_call)
    n_ret, n = len(rets), len(rets) + len(called)
    ts = np.concatenate([end[rets], start[called]])
    order = np.argsort(ts, kind="stable")
    rows = None

    def picked(col: str, dtype) -> pa.Array:
        nonlocal rows
        if rows is None:
            rows = np.concatenate([rets, called])[order]
        return pa.array(calls[col].to_numpy(zero_copy_only=False)[rows].astype(dtype))

    def line() -> pa.Array:
        out = np.zeros(n, np.int32)
        keys, first = lines
        if len(called) and len(keys):
            pid = calls["pid"].to_numpy(zero_copy_only=False)[called].astype(np.int64)
            want_keys = (pid << 32) | calls["code_id"].to_numpy(zero_copy_only=False)[called].astype(np.int64)
            at = np.minimum(np.searchsorted(keys, want_keys), len(keys) - 1)
            out[n_ret:] = np.where(keys[at] == want_keys, first[at], 0)
        return pa.array(out[order])

    build = {
        "ts": lambda: pa.array(ts[order]),
        "pid": lambda: picked("pid", np.int32),
        "tid": lambda: picked("tid", np.int32),
        "kind": lambda: pa.DictionaryArray.from_arrays(pa.array(np.where(
            order < n_ret, np.int8(kinds.RETURN), np.int8(kinds.CALL))), schema.KIND_DICTIONARY),
        "code_id": lambda: picked("code_id", np.uint32),
        "line": line,
        "arg": lambda: pa.array(np.zeros(n, np.int32)),
        "flags": lambda: pa.array(np.zeros(n, np.int16)),
    }
    return pa.Table.from_arrays([build[c]() if c in build else pa.nulls(n, schema.EVENTS.field(c).type)
                                 for c in names], schema=out_schema)


def merge(stored: pa.Table, derived: pa.Table) -> pa.Table:
    """Stored and derived events (the same columns) as one table, by time
    (stored first at a tie)."""
    if not derived.num_rows:
        return stored
    if not stored.num_rows:
        return derived
    both = pa.concat_tables([stored, derived])
    if "ts" not in both.column_names:
        return both
    return both.take(np.argsort(both["ts"].to_numpy(), kind="stable"))
