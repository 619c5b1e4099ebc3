"""Exports of a recording for other viewers: an interactive flame graph (one
SVG file: store/flamegraph.py), Perfetto's protobuf trace
(store/perfetto.py; best for large traces), Chrome trace JSON (also opened by
ui.perfetto.dev), speedscope, and folded stacks (flamegraph.pl).

Pure: calls in, text out. Only calls whose entry was seen are placed in time;
a call still running at the end is closed at the recording's stop; a broken
call (its return lost) is left out, its children stay under its caller. Names
are data, never interpreted.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scope import kinds

from . import calltree
from .names import named_calls
from .reader import Recording

FORMATS = ("svg", "perfetto", "chrome", "speedscope", "folded")


@dataclass(frozen=True)
class Call:
    call_id: int
    parent_id: int | None
    pid: int
    tid: int
    name: str
    file: str
    line: int | None
    start: int
    end: int


def placed_table(rec: Recording) -> pa.Table:
    """Calls and spans with a known start, each with an end (the stop if still
    running): call_id, parent_id, pid, tid, name, file, line, start_ns, end_ns."""
    t = named_calls(rec.calls(), rec.code())
    t = t.filter(pc.is_valid(t["start_ns"]))
    status = pc.cast(t["status"], pa.string())
    running = pc.is_in(status, value_set=pa.array([kinds.OPEN, kinds.SPANS_GAP]))
    t = t.filter(pc.or_(pc.is_valid(t["end_ns"]), running))   # broken: where it ended is unknown
    stop = int(rec.meta.get("stopped_ns") or 0)
    end = pc.coalesce(t["end_ns"], pc.max_element_wise(t["start_ns"], pa.scalar(stop, pa.int64())))
    unknown = pc.binary_join_element_wise("<unknown #", pc.cast(t["code_id"], pa.string()), ">", "")
    return pa.table({"call_id": t["call_id"], "parent_id": t["parent_id"], "pid": t["pid"], "tid": t["tid"],
                     "name": pc.coalesce(t["function"], unknown), "file": pc.fill_null(t["file"], ""),
                     "line": t["first_line"], "start_ns": t["start_ns"], "end_ns": end})


def placed_calls(rec: Recording) -> list[Call]:
    """`placed_table` as Call values (for the exports that write one item per call)."""
    t = placed_table(rec)
    return [Call(r["call_id"], r["parent_id"], r["pid"], r["tid"], r["name"], r["file"], r["line"],
                 r["start_ns"], r["end_ns"]) for r in t.to_pylist()]


def thread_names(rec: Recording) -> dict[tuple[int, int], str]:
    t = rec.threads()
    return {(p, i): n for p, i, n in zip(t["pid"].to_pylist(), t["tid"].to_pylist(), t["name"].to_pylist()) if n}


def chrome(rec: Recording) -> str:
    """Trace Event Format: one complete event ("X") per call, µs with ns fractions."""
    t0 = rec.start_ns
    events = [{"name": c.name, "cat": "python", "ph": "X", "pid": c.pid, "tid": c.tid,
               "ts": (c.start - t0) / 1000, "dur": (c.end - c.start) / 1000,
               "args": {"file": c.file, "line": c.line, "call_id": c.call_id}} for c in placed_calls(rec)]
    for (pid, tid), name in thread_names(rec).items():
        events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}})
    return json.dumps({"traceEvents": events, "displayTimeUnit": "ns",
                       "otherData": {"recorded_by": "scope", "host": rec.meta.get("host", "")}})


def nested(calls: list[Call]) -> list[tuple[int, int, Call]]:
    """(time, 0 close / 1 open, call) in an order where every close comes before
    what opens at the same time, and a parent opens before its children."""
    tree = calltree.build(np.array([c.call_id for c in calls], np.int64),
                          np.array([-1 if c.parent_id is None else c.parent_id for c in calls], np.int64))
    marks = []
    for c, d in zip(calls, tree.depth.tolist()):
        marks.append((c.start, 1, d, c.call_id, c))
        marks.append((c.end, 0, -d, c.call_id, c))
    marks.sort(key=lambda m: (m[0], m[1], m[2], m[3] if m[1] else -m[3]))
    return [(m[0], m[1], m[4]) for m in marks]


def speedscope(rec: Recording) -> str:
    """An evented profile per thread; frames shared by name, file and first line."""
    frames: dict[tuple[str, str, int | None], int] = {}
    frame_list = []
    by_thread: dict[tuple[int, int], list[Call]] = {}
    for c in placed_calls(rec):
        by_thread.setdefault((c.pid, c.tid), []).append(c)
    names = thread_names(rec)
    profiles = []
    for key in sorted(by_thread):
        events = []
        for ts, opens, c in nested(by_thread[key]):
            fk = (c.name, c.file, c.line)
            if fk not in frames:
                frames[fk] = len(frame_list)
                frame_list.append({"name": c.name, "file": c.file, **({"line": c.line} if c.line else {})})
            events.append({"type": "O" if opens else "C", "frame": frames[fk], "at": ts - rec.start_ns})
        profiles.append({"type": "evented", "name": f"pid {key[0]} tid {key[1]}"
                         + (f" ({names[key]})" if key in names else ""),
                         "unit": "nanoseconds", "startValue": events[0]["at"], "endValue": events[-1]["at"],
                         "events": events})
    return json.dumps({"$schema": "https://www.speedscope.app/file-format-schema.json",
                       "shared": {"frames": frame_list}, "profiles": profiles,
                       "name": str(rec.folder.name), "exporter": "scope"})


def _folded_frame(name: str, file: str, line: int | None) -> str:
    """A frame as py-spy writes it, ``function (file:line)``: the file and first
    line tell same-named functions apart (a ';' would split the stack)."""
    place = f"{file}:{line}" if line else file
    label = f"{name} ({place})" if place else name
    return label.replace(";", ":")


def folded(rec: Recording) -> str:
    """One line per distinct stack: frames root first, joined by ';', then its self time in ns."""
    t = placed_table(rec)
    frame, labels = calltree.frames_of(zip(t["name"].to_pylist(), t["file"].to_pylist(), t["line"].to_pylist()))
    tree = calltree.build(t["call_id"].to_numpy(zero_copy_only=False),
                          pc.fill_null(t["parent_id"], -1).to_numpy(zero_copy_only=False), frame)
    dur = pc.subtract(t["end_ns"], t["start_ns"]).to_numpy(zero_copy_only=False).astype(np.int64)
    own = calltree.self_times(tree, dur)
    keep = own > 0
    totals = np.bincount(tree.stack[keep], weights=own[keep], minlength=len(tree.stack_parent)).astype(np.int64)
    stacks = calltree.stack_labels(tree, [_folded_frame(*frame) for frame in labels], ";")
    lines: dict[str, int] = {}
    for sid in np.flatnonzero(totals).tolist():     # frames' labels may repeat: sum equal stacks
        lines[stacks[sid]] = lines.get(stacks[sid], 0) + int(totals[sid])
    return "".join(f"{stack} {ns}\n" for stack, ns in sorted(lines.items()))


def _perfetto(rec: Recording) -> bytes:
    from .perfetto import perfetto
    return perfetto(rec)


def _svg(rec: Recording) -> str:
    from .flamegraph import flamegraph_svg
    return flamegraph_svg(rec)


WRITERS = {"svg": _svg, "perfetto": _perfetto, "chrome": chrome, "speedscope": speedscope, "folded": folded}
