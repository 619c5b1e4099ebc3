"""`scope stats`: a recording's summary — top functions, GC pauses and the calls
they interrupted, imports by time, slowest calls, and anomalies: calls whose
duration is an outlier for their function.

Anomalies use robust statistics: per function with at least MIN_CALLS timed
calls, the median m and the median absolute deviation (MAD); a call is an
outlier when its modified z-score 0.6745·(d − m)/MAD exceeds Z (Iglewicz and
Hoaglin's 3.5) — a mean and standard deviation would be dragged by the very
outliers sought. Each is listed with its stack (outermost first).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scope import kinds

from . import calltree
from .filters import Filters
from .names import named_calls, with_names
from .query import slowest, top
from .reader import Recording

MIN_CALLS = 10
Z = 3.5


def _calls(rec: Recording) -> dict[str, list]:
    t = named_calls(rec.calls(), rec.code())
    t = t.filter(pc.equal(pc.cast(t["kind"], pa.string()), "call"))
    cols = {c: t[c].to_pylist() for c in ("call_id", "parent_id", "pid", "tid", "function", "file",
                                          "first_line", "start_ns", "end_ns", "duration_ns")}
    cols["status"] = pc.cast(t["status"], pa.string()).to_pylist()
    return cols


def _stack(c: dict, tree: calltree.CallTree, i: int) -> str:
    return " > ".join(c["function"][j] or "?" for j in tree.chain(i))


def anomalies(rec: Recording, *, limit: int = 20) -> pa.Table:
    c = _calls(rec)
    tree = calltree.of_lists(c["call_id"], c["parent_id"])
    groups: dict[tuple, list[int]] = {}
    for i, (fn, fl, ln, d, st) in enumerate(zip(c["function"], c["file"], c["first_line"], c["duration_ns"],
                                                c["status"])):
        if d is not None and st in (kinds.COMPLETE, kinds.RAISED):
            groups.setdefault((fn, fl, ln), []).append(i)     # a function: qualified name, file, first line
    rows = []
    for (fn, fl, _), idx in groups.items():
        if len(idx) < MIN_CALLS:
            continue
        d = np.array([c["duration_ns"][i] for i in idx], dtype=np.float64)
        m = float(np.median(d))
        mad = float(np.median(np.abs(d - m)))
        if mad == 0:
            continue
        z = 0.6745 * (d - m) / mad
        for k in np.flatnonzero(z > Z):
            i = idx[int(k)]
            rows.append({"function": fn, "file": fl, "call_id": c["call_id"][i], "tid": c["tid"][i],
                         "start_s": (c["start_ns"][i] - rec.start_ns) / 1e9, "duration_ns": int(d[k]),
                         "median_ns": int(m), "mad_ns": int(mad), "z": round(float(z[k]), 1),
                         "stack": _stack(c, tree, i)})
    rows.sort(key=lambda r: -r["z"])
    return pa.Table.from_pylist(rows[:limit], schema=pa.schema([
        ("function", pa.string()), ("file", pa.string()), ("call_id", pa.int64()), ("tid", pa.int32()),
        ("start_s", pa.float64()), ("duration_ns", pa.int64()), ("median_ns", pa.int64()),
        ("mad_ns", pa.int64()), ("z", pa.float64()), ("stack", pa.string())]))


def pairs(rec: Recording, start_kind: str, done_kind: str, *, by_name: bool) -> list[dict]:
    """Begin/end event pairs per thread (imports nest: matched by name, innermost first): pid, tid,
    name, start_ns, duration_ns, begin_arg, end_arg."""
    ev = rec.events(kinds=(start_kind, done_kind))
    ev = ev.filter(pc.is_in(pc.cast(ev["kind"], pa.string()), value_set=pa.array([start_kind, done_kind])))
    ev = with_names(ev, rec.code()).sort_by([("ts", "ascending")])
    open_: dict[tuple, list[dict]] = {}
    out = []
    for r in ev.select(["ts", "pid", "tid", "kind", "function", "arg"]).to_pylist():
        key = (r["pid"], r["tid"]) + ((r["function"],) if by_name else ())
        if str(r["kind"]) == start_kind:
            open_.setdefault(key, []).append(r)
        elif open_.get(key):
            begin = open_[key].pop()
            out.append({"pid": r["pid"], "tid": r["tid"], "name": r["function"], "start_ns": begin["ts"],
                        "duration_ns": r["ts"] - begin["ts"], "begin_arg": begin["arg"], "end_arg": r["arg"]})
    return out


def gc_pauses(rec: Recording, *, limit: int = 20) -> tuple[dict, pa.Table]:
    """Totals, and the longest pauses with the call each interrupted."""
    pauses = pairs(rec, "gc_start", "gc_done", by_name=False)
    c = _calls(rec)
    by_thread: dict[tuple, list[int]] = {}
    for i, (p, t, s) in enumerate(zip(c["pid"], c["tid"], c["start_ns"])):
        if s is not None:
            by_thread.setdefault((p, t), []).append(i)
    tree = calltree.of_lists(c["call_id"], c["parent_id"])
    rows = []
    for g in sorted(pauses, key=lambda g: -g["duration_ns"])[:limit]:
        running = [i for i in by_thread.get((g["pid"], g["tid"]), ())
                   if c["start_ns"][i] <= g["start_ns"] and (c["end_ns"][i] is None or c["end_ns"][i] > g["start_ns"])]
        inner = max(running, key=lambda i: (c["start_ns"][i], c["call_id"][i]), default=None)
        rows.append({"tid": g["tid"], "start_s": (g["start_ns"] - rec.start_ns) / 1e9,
                     "duration_ns": g["duration_ns"], "generation": g["begin_arg"], "collected": g["end_arg"],
                     "interrupted": None if inner is None else _stack(c, tree, inner)})
    durations = [g["duration_ns"] for g in pauses]
    summary = {"count": len(pauses), "total_ns": sum(durations), "longest_ns": max(durations, default=0)}
    return summary, pa.Table.from_pylist(rows, schema=pa.schema([
        ("tid", pa.int32()), ("start_s", pa.float64()), ("duration_ns", pa.int64()),
        ("generation", pa.int32()), ("collected", pa.int32()), ("interrupted", pa.string())]))


def imports(rec: Recording, *, limit: int = 20) -> pa.Table:
    rows = sorted(pairs(rec, "import_start", "import_done", by_name=True), key=lambda r: -r["duration_ns"])
    return pa.Table.from_pylist([{"module": r["name"], "tid": r["tid"], "start_s": (r["start_ns"] - rec.start_ns) / 1e9,
                                  "duration_ns": r["duration_ns"]} for r in rows[:limit]],
                                schema=pa.schema([("module", pa.string()), ("tid", pa.int32()),
                                                  ("start_s", pa.float64()), ("duration_ns", pa.int64())]))


def report(rec: Recording, *, limit: int = 20, hide_idle: bool = False) -> dict[str, object]:
    """Every section, in the order `scope stats` prints them (``hide_idle``: the
    usual waiting frames left out of top functions and slowest calls)."""
    gc_summary, gc_rows = gc_pauses(rec, limit=limit)
    f = Filters(hide_idle=hide_idle)
    return {"top functions": top(rec, f).slice(0, limit), "gc": gc_summary, "gc pauses": gc_rows,
            "imports": imports(rec, limit=limit), "slowest calls": slowest(rec, f, limit),
            "anomalies": anomalies(rec, limit=limit)}
