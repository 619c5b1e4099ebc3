"""Arrow tables of a recording, built from what the collector hands over:
decoded records (events), the correlator's columns (calls), app-event and span
rows, off-CPU intervals. Pure; the writer (store/writer.py) writes them."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from scope import kinds

from . import schema

KIND_DICTIONARY = schema.KIND_DICTIONARY
CALL_KINDS = ["call", "span"]


def _dict8(values) -> pa.Array:
    """A string column as the int8-indexed dictionary the schemas use."""
    return pa.array(values, type=pa.string()).dictionary_encode().cast(pa.dictionary(pa.int8(), pa.string()))


def _call_kind(n: int, kind: str) -> pa.Array:
    """The calls table's kind column: n rows of "call" or "span"."""
    return pa.DictionaryArray.from_arrays(pa.array(np.full(n, CALL_KINDS.index(kind), np.int8)),
                                          pa.array(CALL_KINDS))


def _kind_array(values) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(values, dtype=np.int8)), KIND_DICTIONARY)


def events_table(ev: np.ndarray) -> pa.Table:
    """Arrow table of the events in a ``scope_event`` record array."""
    n = len(ev)
    nulls = pa.nulls(n, pa.int64())
    return pa.Table.from_arrays([
        pa.array(ev["ts"].astype(np.int64)),
        pa.array(ev["pid"].astype(np.int32)),
        pa.array(ev["tid"].astype(np.int32)),
        _kind_array(ev["kind"]),
        pa.array(ev["code"].astype(np.uint32)),
        pa.array(ev["line"].astype(np.int32)),
        pa.array(ev["arg"].astype(np.int32)),
        pa.array(ev["flags"].astype(np.int16)),
        nulls, nulls, nulls,
        pa.nulls(n, pa.string()),
    ], schema=schema.EVENTS)


def app_events_table(rows: list[dict], name_ids: dict[str, int]) -> pa.Table:
    """Arrow table of decoded shim app events (collector.app.decode_app rows)."""
    def col(key, typ, zero_is_null=False):
        return pa.array([(None if zero_is_null and not r[key] else r[key]) for r in rows], type=typ)
    return pa.Table.from_arrays([
        col("ts", pa.int64()), col("pid", pa.int32()), col("tid", pa.int32()),
        _kind_array([r["kind"] for r in rows]),
        pa.array([name_ids.get(r["name"], 0) for r in rows], type=pa.uint32()),
        pa.array([0] * len(rows), type=pa.int32()), pa.array([0] * len(rows), type=pa.int32()),
        col("flags", pa.int16()),
        col("ref", pa.int64()), col("parent", pa.int64(), True), col("task", pa.int64(), True),
        col("payload", pa.string()),
    ], schema=schema.EVENTS)


def calls_table(cols: dict, exception_names: dict[tuple[int, int], str] | None = None) -> pa.Table:
    """Arrow table from Correlator.to_columns() (-1 marks nulls); exception type
    names by (pid, name id)."""
    exception_names = exception_names or {}
    def nullable(name, typ):
        values = np.asarray(cols[name])
        return pa.array(values, type=typ, mask=values < 0)
    return pa.Table.from_arrays([
        pa.array(cols["call_id"], type=pa.int64()),
        nullable("parent_id", pa.int64()),
        nullable("depth", pa.int32()),
        pa.array(cols["pid"], type=pa.int32()),
        pa.array(cols["tid"], type=pa.int32()),
        pa.array(cols["code_id"], type=pa.uint32()),
        nullable("start_ns", pa.int64()),
        nullable("end_ns", pa.int64()),
        nullable("duration_ns", pa.int64()),
        nullable("self_ns", pa.int64()),
        _status(cols["status"]),
        _call_kind(len(cols["call_id"]), "call"),
        _exceptions(cols, exception_names),
        _task(cols),
        pa.array(np.asarray(cols["derived"], np.int8) if "derived" in cols
                 else np.zeros(len(cols["call_id"]), np.int8)),
    ], schema=schema.CALLS)


STATUS_INDEX = {name: i for i, name in enumerate(kinds.STATUSES)}
_STATUS_DICTIONARY = pa.array(kinds.STATUSES, pa.string())


def _status(values) -> pa.Array:
    """The status column from a sequence of names (a dictionary lookup per row:
    a third of the time of building strings and encoding them)."""
    codes = np.fromiter(map(STATUS_INDEX.__getitem__, values), np.int8, count=len(values))
    return pa.DictionaryArray.from_arrays(pa.array(codes), _STATUS_DICTIONARY)


def _exceptions(cols: dict, names: dict[tuple[int, int], str]) -> pa.Array:
    """Each raised call's exception type name ("?" unknown), null for the rest;
    looked up only where there is one."""
    exc = np.asarray(cols["exc_id"])
    if not exc.any():
        return pa.nulls(len(exc), pa.string())
    out = np.full(len(exc), None, dtype=object)
    for i in np.flatnonzero(exc):
        out[i] = names.get((int(cols["pid"][i]), int(exc[i])), "?")
    return pa.array(out, type=pa.string())


def _task(cols: dict) -> pa.Array:
    """The asyncio task of each call (0: none -> null)."""
    task = np.asarray(cols.get("task", np.zeros(len(cols["call_id"]), np.int64)))
    return pa.array(task, type=pa.int64(), mask=task <= 0)


def spans_table(rows: list[dict], first_id: int, name_ids: dict[str, int]) -> pa.Table:
    """Span rows (collector.app.SpanPairer) as calls-table rows with kind "span"."""
    ids = {(r["pid"], r["span_id"]): first_id + i for i, r in enumerate(rows)}
    return pa.Table.from_arrays([
        pa.array([first_id + i for i in range(len(rows))], type=pa.int64()),
        pa.array([ids.get((r["pid"], r["parent_span"])) for r in rows], type=pa.int64()),
        pa.nulls(len(rows), pa.int32()),
        pa.array([r["pid"] for r in rows], type=pa.int32()),
        pa.array([r["tid"] for r in rows], type=pa.int32()),
        pa.array([name_ids.get(r["name"], 0) for r in rows], type=pa.uint32()),
        pa.array([r["start_ns"] for r in rows], type=pa.int64()),
        pa.array([r["end_ns"] for r in rows], type=pa.int64()),
        pa.array([r["duration_ns"] for r in rows], type=pa.int64()),
        pa.array([r["self_ns"] for r in rows], type=pa.int64()),
        _dict8([r["status"] for r in rows]),
        _call_kind(len(rows), "span"),
        pa.nulls(len(rows), pa.string()),
        pa.array([r["task"] for r in rows], type=pa.int64()),
        pa.array(np.zeros(len(rows), np.int8)),
    ], schema=schema.CALLS)


def offcpu_table(rows: list[tuple]) -> pa.Table:
    """Off-CPU intervals: (pid, tid, start_ns, duration_ns, reason, syscall, call_id) tuples."""
    cols = list(zip(*rows)) if rows else [[]] * 7
    arrays = [_dict8(c) if pa.types.is_dictionary(f.type) else pa.array(c, type=f.type)
              for c, f in zip(cols, schema.OFFCPU)]
    arrays[6] = pa.array([None if x < 0 else x for x in cols[6]], type=pa.int64())
    return pa.Table.from_arrays(arrays, schema=schema.OFFCPU)
