"""Pure helpers that turn what a session collected into the recording's tables."""
from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Iterable

import numpy as np
import pyarrow as pa

from scope import kinds

from ..probes.syscalls import name_of
from ..store import schema
from .correlate import line_key
from .offcpu import attribute


def select_calls(cols: dict, keep: np.ndarray) -> dict:
    return {k: (v[keep] if isinstance(v, np.ndarray) else [x for x, k2 in zip(v, keep) if k2])
            for k, v in cols.items()}


def short_calls(cols: dict, min_ns: int) -> np.ndarray:
    """The calls known to be shorter than min_ns (records written before the shim
    had the setting), to drop; calls of unknown length stay."""
    dur = cols["duration_ns"]
    return (dur >= 0) & (dur < min_ns)


def filtered_out(name: str, filters: list[str]) -> bool:
    """The shim's rule (tracing.c): any matching "-glob" drops; with "+globs", one must match."""
    keep = [f[1:] for f in filters if f[0] == "+"]
    if any(fnmatch.fnmatchcase(name, f[1:]) for f in filters if f[0] == "-"):
        return True
    return bool(keep) and not any(fnmatch.fnmatchcase(name, g) for g in keep)


def mark_gaps(cols: dict, gaps: list[dict]) -> dict:
    """Complete calls that span a capture gap (of their process, or of all: pid None)
    get status spans_gap; no call that spans one claims a self time (its children
    in the gap were not seen, so it would count their time as its own)."""
    if not gaps or not len(cols["call_id"]):
        return cols
    start, end, pid = cols["start_ns"], cols["end_ns"], cols["pid"]
    status = np.array(cols["status"], dtype=object)
    self_ns = np.array(cols["self_ns"], dtype=np.int64, copy=True)
    for gap in gaps:
        mine = np.ones(len(pid), bool) if gap["pid"] is None else pid == gap["pid"]
        spans = mine & (start >= 0) & (start < gap["end_ns"]) & ((end < 0) | (end > gap["start_ns"]))
        status[spans & (status == kinds.COMPLETE)] = kinds.SPANS_GAP
        self_ns[spans] = -1           # null
    return {**cols, "status": status.tolist(), "self_ns": self_ns}


def filtered_calls(cols: dict, names: dict[tuple[int, int], str], filters: list[str]) -> np.ndarray:
    """The calls --function/--exclude drop (names by (pid, code id))."""
    pairs = list(zip(cols["pid"].tolist(), cols["code_id"].tolist()))
    verdict = {pc: filtered_out(names.get(pc, "") or "", filters) for pc in set(pairs)}   # once per function
    return np.array([verdict[pc] for pc in pairs], dtype=bool)


def known_line(line: int | None) -> int | None:
    """A code object's first line as an entry reported it; None when unknown.
    Lines start at 1: CPython 3.15's entry marker gives 0 for a module and -1
    for a class body (the line of their first instruction, which has none)."""
    return line if line is not None and line > 0 else None


def code_table(names: Iterable[dict], app_names: dict[str, int], pids: list[int],
               first_line: dict[int, int]) -> pa.Table:
    """Names of code objects and events; the collector's app-event names once per process.
    ``names`` is read once (namebook.py hands its rows out one at a time)."""
    apps = ({"code_id": i, "pid": pid, "kind": "name", "file": "", "function": n, "qualname": n,
             "truncated": False} for pid in pids for n, i in app_names.items())
    cols: dict[str, list] = {name: [] for name in schema.CODE.names}
    for r in itertools.chain(names, apps):
        for name in ("code_id", "pid", "kind", "file", "function", "truncated"):
            cols[name].append(r[name])
        # the source's word (collector/identity.py) before an entry's
        cols["first_line"].append(known_line(r.get("first_line")
                                             or first_line.get(line_key(r["pid"], r["code_id"]))))
        cols["qualname"].append(r.get("qualname", r["function"]))
    return pa.table(cols, schema=schema.CODE)


def syscalls_table(parts: list[np.ndarray], cols: dict) -> pa.Table:
    """SYSCALL records (scope_events.h) as rows, each attributed to the running call."""
    ev = np.concatenate(parts) if parts else np.zeros(0)
    if not len(ev):
        return schema.SYSCALLS.empty_table()
    flags = ev["flags"].astype(np.int64)
    ns = ev["arg"].astype(np.int64) * np.where(flags & kinds.F_USEC, 1000, 1)
    rows = attribute(cols, list(zip(ev["pid"].tolist(), ev["tid"].tolist(), ev["ts"].tolist(),
                                    range(len(ev)), [-1] * len(ev))))
    call_ids = np.array([r[-1] for r in rows], dtype=np.int64)
    return pa.table({
        "pid": pa.array(ev["pid"].astype(np.int32)), "tid": pa.array(ev["tid"].astype(np.int32)),
        "start_ns": pa.array(ev["ts"].astype(np.int64)), "duration_ns": pa.array(ns),
        "syscall": pa.array([name_of(int(c)) for c in ev["code"]]).dictionary_encode().cast(
            schema.SYSCALLS.field("syscall").type),
        "ret": pa.array(ev["line"].astype(np.int64)),
        "clamped": pa.array((flags & kinds.F_CLAMPED) != 0),
        "call_id": pa.array(call_ids, mask=call_ids < 0),
    }, schema=schema.SYSCALLS)
