"""Time travel: what every thread was doing at a moment, and the neighbourhood of a call.

Pure functions over a Recording. A thread's stack at T is the chain from the
deepest call known to be running at T (entered at or before T, not returned
by T) up through its parents; a call whose entry was not seen only appears as
the parent of such a call (without entries, as on CPython 3.11 without the
shim, the stacks at T are unknown and left empty).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from scope import kinds

from ..errors import UsageError
from . import calltree
from .names import with_names
from .reader import Recording

RUNNING_AT_END = (kinds.OPEN, kinds.SPANS_GAP)
# what time travel reads of the calls table
COLUMNS = ("call_id", "parent_id", "pid", "tid", "code_id", "start_ns", "end_ns", "status", "kind")

SCHEMA = pa.schema([
    ("section", pa.string()),     # stack / state / span
    ("pid", pa.int32()), ("tid", pa.int32()),
    ("level", pa.int32()),        # stack: 0 = outermost
    ("name", pa.string()), ("file", pa.string()), ("line", pa.int32()),
    ("since_s", pa.float64()),    # entered / began / recorded, seconds from the start
    ("elapsed_ns", pa.int64()),   # how long it had been running at T
    ("call_id", pa.int64()), ("status", pa.string()), ("value", pa.string()),
])


def _calls(rec: Recording, lo: int | None = None, hi: int | None = None, *,
           running_at: int | None = None) -> dict[str, list]:
    # with running_at, only calls that may run at that moment (and so every parent of
    # one that does): entered by then, not returned by then; filtered in the files
    t = rec.calls(lo, hi, running_at=running_at, columns=list(COLUMNS))
    t = with_names(t, rec.code())
    cols = ("call_id", "parent_id", "pid", "tid", "function", "file", "first_line", "start_ns", "end_ns",
            "status", "kind")
    out = {c: t[c].to_pylist() for c in cols if c not in ("status", "kind")}
    out["status"] = pc.cast(t["status"], pa.string()).to_pylist()
    out["kind"] = pc.cast(t["kind"], pa.string()).to_pylist()
    return out


def _running(start, end, status, t: int) -> bool:
    return start is not None and start <= t and (end > t if end is not None else status in RUNNING_AT_END)


def at(rec: Recording, t: int, *, states: dict | None = None) -> pa.Table:
    """Every thread's stack at monotonic ns t, the latest shim states, the open
    spans; `states`: a `state_history(rec, t)` already read."""
    c = _calls(rec, t, t, running_at=t)     # a call running at t, and its parents, overlap t
    tree = calltree.of_lists(c["call_id"], c["parent_id"])
    deepest: dict[tuple[int, int], int] = {}
    for i, (kind, s, e, st) in enumerate(zip(c["kind"], c["start_ns"], c["end_ns"], c["status"])):
        if kind == "call" and _running(s, e, st, t):
            key = (c["pid"][i], c["tid"][i])
            j = deepest.get(key)
            if j is None or s > c["start_ns"][j] or (s == c["start_ns"][j] and c["call_id"][i] > c["call_id"][j]):
                deepest[key] = i
    rows = []
    for (pid, tid), i in sorted(deepest.items()):
        for level, j in enumerate(tree.chain(i)):
            s = c["start_ns"][j]
            rows.append({"section": "stack", "pid": pid, "tid": tid, "level": level,
                         "name": c["function"][j], "file": c["file"][j],
                         "line": c["first_line"][j],
                         "since_s": None if s is None else (s - rec.start_ns) / 1e9,
                         "elapsed_ns": None if s is None else t - s, "call_id": c["call_id"][j],
                         "status": c["status"][j], "value": None})
    rows += _latest_states(rec, state_history(rec, t) if states is None else states, t)
    for i, kind in enumerate(c["kind"]):
        if kind == "span" and _running(c["start_ns"][i], c["end_ns"][i], c["status"][i], t):
            s = c["start_ns"][i]
            rows.append({"section": "span", "pid": c["pid"][i], "tid": c["tid"][i], "level": None,
                         "name": c["function"][i], "file": None, "line": None,
                         "since_s": (s - rec.start_ns) / 1e9, "elapsed_ns": t - s,
                         "call_id": c["call_id"][i], "status": c["status"][i], "value": None})
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def state_history(rec: Recording, t: int) -> dict[tuple[int, str], list[dict]]:
    """Every snapshot of each shim state (per process) recorded at or before t, in
    time order (snapshots at the same ns in the order they were written)."""
    ev = rec.events(None, t, kinds=("state",))
    ev = ev.filter(pc.and_(pc.equal(pc.cast(ev["kind"], pa.string()), "state"), pc.less_equal(ev["ts"], t)))
    ev = with_names(ev, rec.code()).sort_by([("ts", "ascending")])
    history: dict[tuple[int, str], list[dict]] = {}
    for r in ev.select(["ts", "pid", "tid", "function", "payload"]).to_pylist():
        history.setdefault((r["pid"], r["function"]), []).append(r)
    return history


def previous_states(history: dict[tuple[int, str], list[dict]]) -> dict[tuple[int, str], str]:
    """For each state: the value of the snapshot before its latest (for a diff)."""
    return {k: v[-2]["payload"] for k, v in history.items() if len(v) >= 2}


def _latest_states(rec: Recording, history: dict[tuple[int, str], list[dict]], t: int) -> list[dict]:
    """The latest snapshot of each shim state, as rows of `at`."""
    return [{"section": "state", "pid": r["pid"], "tid": r["tid"], "level": None, "name": r["function"],
             "file": None, "line": None, "since_s": (r["ts"] - rec.start_ns) / 1e9,
             "elapsed_ns": t - r["ts"], "call_id": None, "status": None, "value": r["payload"]}
            for _, r in sorted((k, v[-1]) for k, v in history.items())]


AROUND = pa.schema([
    ("relation", pa.string()),    # ancestor / self / child / sibling
    ("call_id", pa.int64()), ("parent_id", pa.int64()), ("pid", pa.int32()), ("tid", pa.int32()),
    ("function", pa.string()), ("file", pa.string()), ("start_s", pa.float64()),
    ("duration_ns", pa.int64()), ("status", pa.string()),
])


def around(rec: Recording, call_id: int) -> pa.Table:
    """The call, its ancestors (outermost first), its children and its siblings, in time order."""
    c = _calls(rec)
    row_of = {cid: i for i, cid in enumerate(c["call_id"])}
    me = row_of.get(call_id)
    if me is None:
        raise UsageError(f"no call {call_id} in {rec.folder}",
                         "take an id from `scope query --calls` or `--slowest`")
    chain = calltree.of_lists(c["call_id"], c["parent_id"]).chain(me)[:-1]
    parent = c["parent_id"][me]
    children = [i for i, p in enumerate(c["parent_id"]) if p == call_id]
    siblings = [i for i, p in enumerate(c["parent_id"]) if parent is not None and p == parent and i != me]

    def order(rows):
        return sorted(rows, key=lambda i: (c["start_ns"][i] if c["start_ns"][i] is not None else -1, i))
    picked = ([("ancestor", i) for i in chain] + [("self", me)]
              + [("child", i) for i in order(children)] + [("sibling", i) for i in order(siblings)])
    rows = []
    for rel, i in picked:
        s, e = c["start_ns"][i], c["end_ns"][i]
        rows.append({"relation": rel, "call_id": c["call_id"][i], "parent_id": c["parent_id"][i],
                     "pid": c["pid"][i], "tid": c["tid"][i], "function": c["function"][i],
                     "file": c["file"][i], "start_s": None if s is None else (s - rec.start_ns) / 1e9,
                     "duration_ns": None if s is None or e is None else e - s, "status": c["status"][i]})
    return pa.Table.from_pylist(rows, schema=AROUND)


