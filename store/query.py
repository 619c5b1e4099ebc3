"""Questions over a recording: filtered rows, slowest calls, top functions.

Pure functions from a Recording (or its tables) to Arrow tables. Times in the
results are seconds from the recording's start; durations are ns.

Percentiles use the nearest-rank definition: p-th percentile of n sorted
durations is the value at rank ceil(p/100 * n).
"""
from __future__ import annotations

import fnmatch

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scope import kinds

from . import calltree
from .filters import Filters, bounds, exact_glob, mask, parse_time
from .names import code_key, plain_ids, qualified, scope_code, with_names, without_scope
from .reader import Recording
from .summarytop import top_by_summaries
from .waits import with_self_waits

# what the commands and the TUI ask of this module with the rows they get
__all__ = [
    "Filters",
    "calls",
    "code_key",
    "events",
    "exact_glob",
    "flow",
    "nearest_rank",
    "offcpu",
    "parse_time",
    "qualified",
    "scope_code",
    "slowest",
    "syscalls",
    "tasks",
    "top",
    "top_of",
    "without_scope",
]

COMPLETED = kinds.COMPLETED


def _seconds(ns: pa.ChunkedArray, rec: Recording) -> pa.Array:
    return pc.divide(pc.cast(pc.subtract(ns, rec.start_ns), pa.float64()), 1e9)


def _plain_ids(keys: pa.Array | None) -> set[int] | None:
    """The code ids (without their pid) of (pid, code id) keys: for pruning files."""
    return None if keys is None else {k & 0xFFFFFFFF for k in keys.to_pylist()}


def events(rec: Recording, f: Filters) -> pa.Table:
    keys = f.code_keys(rec.code())
    # only the segments and rows that may hold them (catalog, Parquet statistics)
    t = rec.events(*bounds(f, rec), kinds=f.kinds, code_ids=plain_ids(keys))
    keep = mask(t, f, keys, t["ts"], rec)
    if f.kinds:
        keep = pc.and_(keep, pc.is_in(pc.cast(t["kind"], pa.string()), value_set=pa.array(f.kinds)))
    t = with_names(t.filter(keep), rec.code())
    return pa.table({
        "time_s": _seconds(t["ts"], rec), "pid": t["pid"], "tid": t["tid"],
        "kind": pc.cast(t["kind"], pa.string()), "function": t["function"], "file": t["file"],
        "line": t["line"], "arg": t["arg"], "flags": t["flags"], "ref": t["ref"],
        "parent": t["parent"], "task": t["task"], "payload": t["payload"]})


def _filtered_calls(rec: Recording, f: Filters) -> pa.Table:
    keys = f.code_keys(rec.code())
    t = rec.calls(*bounds(f, rec), by_start=True, code_ids=plain_ids(keys))
    when = pc.coalesce(t["start_ns"], t["end_ns"])
    return with_names(t.filter(mask(t, f, keys, when, rec)), rec.code())


def _call_view(t: pa.Table, rec: Recording) -> pa.Table:
    return pa.table({
        "call_id": t["call_id"], "parent_id": t["parent_id"], "depth": t["depth"],
        "pid": t["pid"], "tid": t["tid"], "function": t["function"], "file": t["file"],
        "line": t["first_line"], "start_s": _seconds(t["start_ns"], rec), "duration_ns": t["duration_ns"],
        "self_ns": t["self_ns"], "status": pc.cast(t["status"], pa.string()),
        "kind": pc.cast(t["kind"], pa.string()), "exception": t["exception"], "task": t["task"]})


def calls(rec: Recording, f: Filters) -> pa.Table:
    """One row per call (and span); --kind call/return keeps calls, span keeps spans."""
    t = _filtered_calls(rec, f)
    if f.kinds:
        rows = {"span" for k in f.kinds if k.startswith("span")} | {
            "call" for k in f.kinds if k in ("call", "return")}
        t = t.filter(pc.is_in(pc.cast(t["kind"], pa.string()), value_set=pa.array(sorted(rows), pa.string())))
    return _call_view(t.sort_by([("call_id", "ascending")]), rec)


def slowest(rec: Recording, f: Filters, n: int) -> pa.Table:
    t = _filtered_calls(rec, f)
    t = t.filter(pc.is_valid(t["duration_ns"]))
    t = t.sort_by([("duration_ns", "descending"), ("call_id", "ascending")]).slice(0, n)
    return _call_view(t, rec)


def nearest_rank(sorted_values: np.ndarray, p: float) -> int:
    n = len(sorted_values)
    return int(sorted_values[max(int(np.ceil(p / 100 * n)) - 1, 0)])


def top(rec: Recording | list[Recording], f: Filters, *, exact: bool = False) -> pa.Table:
    """One row per function (name and file, summed over the processes — and the
    recordings — that ran it), sorted by total time (then calls). From the
    segments' summaries where it can (store/summarytop.py: percentiles within
    1 %); with ``exact``, from every call."""
    recs = rec if isinstance(rec, list) else [rec]
    if not exact:
        fast = top_by_summaries(recs, f)
        if fast is not None:
            return fast
    return top_of(pa.concat_tables([with_self_waits(r, _filtered_calls(r, f)) for r in recs],
                                   promote_options="permissive"))


def top_of(t: pa.Table) -> pa.Table:
    """--top over calls with function/file (and first_line) columns: one row per
    function, told apart by qualified name, file and first line (a property's
    getter and setter share a qualified name). Vectorised: one sort for every
    percentile."""
    status = pc.cast(t["status"], pa.string())
    t = t.filter(pc.is_in(status, value_set=pa.array(COMPLETED)))
    unknown = pc.binary_join_element_wise("<unknown #", pc.cast(t["code_id"], pa.string()), ">", "")
    fn = pc.if_else(pc.is_null(t["function"]), unknown, t["function"])
    lines = t["first_line"] if "first_line" in t.column_names else pa.nulls(len(t), pa.int32())
    label = pc.binary_join_element_wise(fn, pc.fill_null(t["file"], ""),
                                        pc.fill_null(pc.cast(lines, pa.string()), ""), "\0")
    enc = pc.dictionary_encode(label).combine_chunks() if isinstance(label, pa.ChunkedArray) \
        else pc.dictionary_encode(label)
    group = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    labels = enc.dictionary.to_pylist()
    n = len(labels)
    known = ~np.asarray(pc.is_null(t["duration_ns"]).to_numpy(zero_copy_only=False), dtype=bool)
    dur = pc.fill_null(t["duration_ns"], 0).to_numpy(zero_copy_only=False).astype(np.int64)
    self_known = ~np.asarray(pc.is_null(t["self_ns"]).to_numpy(zero_copy_only=False), dtype=bool)
    self_ns = pc.fill_null(t["self_ns"], 0).to_numpy(zero_copy_only=False).astype(np.int64)
    # with --offcpu: each call's time off CPU while it was the innermost call (store/waits.py)
    waits_known = "self_wait_ns" in t.column_names and pc.any(pc.is_valid(t["self_wait_ns"])).as_py()
    wait_ns = (pc.fill_null(t["self_wait_ns"], 0).to_numpy(zero_copy_only=False).astype(np.int64)
               if waits_known else np.zeros(len(t), np.int64))
    calls_n = np.bincount(group, minlength=n)
    timed_n = np.bincount(group[known], minlength=n)
    total = np.bincount(group[known], weights=dur[known], minlength=n)
    selfs = np.bincount(group[self_known], weights=self_ns[self_known], minlength=n)
    has_self = np.bincount(group[self_known], minlength=n) > 0
    # durations sorted within each function: the nearest-rank percentiles by index
    order = np.lexsort((dur[known], group[known]))
    sorted_dur = dur[known][order]
    first = np.concatenate([[0], np.cumsum(timed_n)[:-1]])

    def rank(p: float) -> np.ndarray:
        k = np.maximum(np.ceil(p / 100 * timed_n).astype(np.int64) - 1, 0)
        return sorted_dur[np.minimum(first + k, max(len(sorted_dur) - 1, 0))] if len(sorted_dur) else k
    p50, p95, p99 = rank(50), rank(95), rank(99)
    all_self = float(selfs.sum())    # self times add up to the time calls ran: each row's share of it
    waits = np.bincount(group[self_known], weights=wait_ns[self_known], minlength=n)
    rows = []
    for g, lab in enumerate(labels):
        name, file, line = lab.rsplit("\0", 2)     # a name may hold a NUL (a crafted recording)
        timed = timed_n[g] > 0
        rows.append({
            "function": name, "file": file or None, "line": int(line) if line else None, "calls": int(calls_n[g]),
            "total_ns": int(total[g]) if timed else None,
            "self_ns": int(selfs[g]) if has_self[g] else None,
            "self_pct": float(selfs[g] * 100 / all_self) if has_self[g] and all_self else None,
            "self_cpu_ns": int(max(selfs[g] - waits[g], 0)) if has_self[g] and waits_known else None,
            "self_wait_ns": int(min(waits[g], selfs[g])) if has_self[g] and waits_known else None,
            "mean_ns": int(total[g] // timed_n[g]) if timed else None,
            "p50_ns": int(p50[g]) if timed else None,
            "p95_ns": int(p95[g]) if timed else None,
            "p99_ns": int(p99[g]) if timed else None,
        })
    rows.sort(key=lambda r: (-(r["total_ns"] or 0), -r["calls"], r["function"] or "", r["line"] or 0))
    schema = pa.schema([("function", pa.string()), ("file", pa.string()), ("line", pa.int32()),
                        ("calls", pa.int64())]
                       + [("total_ns", pa.int64()), ("self_ns", pa.int64()), ("self_pct", pa.float64()),
                          ("self_cpu_ns", pa.int64()), ("self_wait_ns", pa.int64())]
                       + [(c, pa.int64()) for c in ("mean_ns", "p50_ns", "p95_ns", "p99_ns")])
    return pa.Table.from_pylist(rows, schema=schema)


def _under_calls(t: pa.Table, rec: Recording, f: Filters) -> pa.Table:
    """Rows attributed to calls (call_id): filtered, with the call's function and file."""
    calls = rec.calls().select(["call_id", "code_id"])
    idx = pc.index_in(t["call_id"], value_set=calls["call_id"])
    t = t.append_column("code_id", pc.take(calls["code_id"], idx))
    keep = mask(t, f, f.code_keys(rec.code()), t["start_ns"], rec)
    return with_names(t.filter(keep), rec.code())


def tasks(rec: Recording, f: Filters) -> pa.Table:
    """One row per asyncio task: its coroutine, how long it lived, ran and waited
    (awaiting), how often the event loop resumed it, and its calls. A task is a
    root coroutine call and every call under it with the same task id (ids are
    generator ids: a later task may reuse one)."""
    t = _filtered_calls(rec, Filters(pid=f.pid, tid=f.tid, since=f.since, until=f.until))
    t = t.filter(pc.and_(pc.is_valid(t["task"]), pc.equal(pc.cast(t["kind"], pa.string()), "call")))
    cols = {name: t[name].to_pylist() for name in ("call_id", "parent_id", "task", "pid", "function",
                                                   "start_ns", "end_ns", "duration_ns", "self_ns",
                                                   "status")}
    # a task's root: the outermost call up the chain that stays in the same task
    parent = calltree.parent_rows(t["call_id"].to_numpy(zero_copy_only=False).astype(np.int64),
                                  pc.fill_null(t["parent_id"], -1).to_numpy(zero_copy_only=False).astype(np.int64))
    task = pc.fill_null(t["task"], 0).to_numpy(zero_copy_only=False)
    same = (parent >= 0) & (task[np.maximum(parent, 0)] == task)
    members: dict[int, list[int]] = {}
    for i, r in enumerate(calltree.roots(np.where(same, parent, -1)).tolist()):
        members.setdefault(r, []).append(i)
    resumes = _resumes(rec)
    rows = []
    for r, mine in members.items():
        selfs = [cols["self_ns"][i] for i in mine]
        running = None if None in selfs else sum(selfs)
        duration, pid, task = cols["duration_ns"][r], cols["pid"][r], cols["task"][r]
        start, end = cols["start_ns"][r], cols["end_ns"][r]
        ts = resumes.get((pid, task), np.zeros(0, np.int64))
        lo = np.searchsorted(ts, start if start is not None else -1)
        hi = np.searchsorted(ts, end if end is not None else np.iinfo(np.int64).max, side="right")
        rows.append({"task": task, "pid": pid, "function": cols["function"][r],
                     "start_s": None if start is None else (start - rec.start_ns) / 1e9,
                     "duration_ns": duration, "running_ns": running,
                     "waiting_ns": None if duration is None or running is None else duration - running,
                     "resumes": int(hi - lo), "calls": len(mine), "status": cols["status"][r]})
    if f.function is not None:
        rows = [r for r in rows if fnmatch.fnmatchcase(r["function"] or "", f.function)]
    rows.sort(key=lambda r: -(r["waiting_ns"] or 0))
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("task", pa.int64()), ("pid", pa.int32()), ("function", pa.string()), ("start_s", pa.float64()),
        ("duration_ns", pa.int64()), ("running_ns", pa.int64()), ("waiting_ns", pa.int64()),
        ("resumes", pa.int64()), ("calls", pa.int64()), ("status", pa.string())]))


def _resumes(rec: Recording) -> dict[tuple[int, int], np.ndarray]:
    """(pid, generator id) -> sorted times it was resumed."""
    ev = rec.events(kinds=("call",), derive=False)     # a resume is never a plain call: stored as such
    ev = ev.filter(pc.and_(pc.equal(pc.cast(ev["kind"], pa.string()), "call"),
                           pc.not_equal(pc.bit_wise_and(ev["flags"], kinds.F_RESUME), 0)))
    out: dict[tuple[int, int], list[int]] = {}
    for pid, gen, ts in zip(ev["pid"].to_pylist(), ev["arg"].to_pylist(), ev["ts"].to_pylist()):
        out.setdefault((pid, gen & 0xFFFFFFFF), []).append(ts)
    return {k: np.sort(np.array(v, np.int64)) for k, v in out.items()}


def offcpu(rec: Recording, f: Filters) -> pa.Table:
    """Off-CPU intervals with the call running then (its function and file)."""
    t = _under_calls(rec.offcpu(), rec, f)
    return pa.table({
        "time_s": _seconds(t["start_ns"], rec), "pid": t["pid"], "tid": t["tid"],
        "duration_ns": t["duration_ns"], "reason": pc.cast(t["reason"], pa.string()),
        "syscall": t["syscall"], "call_id": t["call_id"], "function": t["function"], "file": t["file"]})


def syscalls(rec: Recording, f: Filters) -> pa.Table:
    """System calls with duration, return value and the call running then."""
    t = _under_calls(rec.syscalls(), rec, f)
    return pa.table({
        "time_s": _seconds(t["start_ns"], rec), "pid": t["pid"], "tid": t["tid"],
        "syscall": pc.cast(t["syscall"], pa.string()), "duration_ns": t["duration_ns"],
        "ret": t["ret"], "clamped": t["clamped"], "call_id": t["call_id"],
        "function": t["function"], "file": t["file"]})


def flow(rec: Recording, f: Filters) -> pa.Table:
    """Message edges send -> receive, with latency; --pid/--tid match either end."""
    t = rec.messages()
    mask = pa.array(np.ones(t.num_rows, dtype=bool))
    for col, value in (("pid", f.pid), ("tid", f.tid)):
        if value is not None:
            either = pc.or_kleene(pc.equal(t[f"send_{col}"], value), pc.equal(t[f"recv_{col}"], value))
            mask = pc.and_(mask, pc.fill_null(either, False))
    if f.function is not None:   # the channel, for this view
        mask = pc.and_(mask, pa.array([fnmatch.fnmatchcase(c or "", f.function)
                                       for c in t["channel"].to_pylist()], type=pa.bool_()))
    t = t.filter(mask)
    return pa.table({
        "channel": t["channel"], "msg_id": t["msg_id"],
        "send_s": _seconds(t["send_ns"], rec), "send_tid": t["send_tid"],
        "recv_s": _seconds(t["recv_ns"], rec), "recv_tid": t["recv_tid"],
        "latency_ns": t["latency_ns"]})
