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

import pyarrow as pa
import pyarrow.compute as pc

from scope import kinds

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


def placed_calls(rec: Recording) -> list[Call]:
    """Calls and spans with a known start, each with an end (the stop if still running)."""
    from .query import _names, without_scope
    t = _names(without_scope(rec.calls(), rec.code()), rec.code())
    t = t.filter(pc.is_valid(t["start_ns"]))
    stop = int(rec.meta.get("stopped_ns") or 0)
    status = pc.cast(t["status"], pa.string()).to_pylist()
    out = []
    for r, st in zip(t.select(["call_id", "parent_id", "pid", "tid", "function", "file", "first_line", "code_id",
                               "start_ns", "end_ns"]).to_pylist(), status):
        end = r["end_ns"]
        if end is None:
            if st not in (kinds.OPEN, kinds.SPANS_GAP):
                continue                        # broken: where it ended is unknown
            end = max(stop, r["start_ns"])
        out.append(Call(r["call_id"], r["parent_id"], r["pid"], r["tid"],
                        r["function"] or f"<unknown #{r['code_id']}>", r["file"] or "",
                        r["first_line"], r["start_ns"], end))
    return out


def _thread_names(rec: Recording) -> dict[tuple[int, int], str]:
    t = rec.threads()
    return {(p, i): n for p, i, n in zip(t["pid"].to_pylist(), t["tid"].to_pylist(), t["name"].to_pylist()) if n}


def chrome(rec: Recording) -> str:
    """Trace Event Format: one complete event ("X") per call, µs with ns fractions."""
    t0 = rec.start_ns
    events = [{"name": c.name, "cat": "python", "ph": "X", "pid": c.pid, "tid": c.tid,
               "ts": (c.start - t0) / 1000, "dur": (c.end - c.start) / 1000,
               "args": {"file": c.file, "line": c.line, "call_id": c.call_id}} for c in placed_calls(rec)]
    for (pid, tid), name in _thread_names(rec).items():
        events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}})
    return json.dumps({"traceEvents": events, "displayTimeUnit": "ns",
                       "otherData": {"recorded_by": "scope", "host": rec.meta.get("host", "")}})


def _nested(calls: list[Call]) -> list[tuple[int, int, Call]]:
    """(time, 0 close / 1 open, call) in an order where every close comes before
    what opens at the same time, and a parent opens before its children."""
    depth: dict[int, int] = {}
    by_id = {c.call_id: c for c in calls}

    def level(c: Call) -> int:
        if c.call_id not in depth:
            p = by_id.get(c.parent_id) if c.parent_id is not None else None
            depth[c.call_id] = 0 if p is None else level(p) + 1
        return depth[c.call_id]
    marks = []
    for c in calls:
        d = level(c)
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
    names = _thread_names(rec)
    profiles = []
    for key in sorted(by_thread):
        events = []
        for ts, opens, c in _nested(by_thread[key]):
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


def _folded_frame(c: Call) -> str:
    """A frame as py-spy writes it, ``function (file:line)``: the file and first
    line tell same-named functions apart (a ';' would split the stack)."""
    place = f"{c.file}:{c.line}" if c.line else c.file
    label = f"{c.name} ({place})" if place else c.name
    return label.replace(";", ":")


def folded(rec: Recording) -> str:
    """One line per distinct stack: frames root first, joined by ';', then its self time in ns."""
    calls = placed_calls(rec)
    by_id = {c.call_id: c for c in calls}
    child_time: dict[int, int] = {}
    for c in calls:
        if c.parent_id in by_id:
            child_time[c.parent_id] = child_time.get(c.parent_id, 0) + (c.end - c.start)
    totals: dict[str, int] = {}
    for c in calls:
        chain, p = [], c
        while p is not None:
            chain.append(_folded_frame(p))
            p = by_id.get(p.parent_id) if p.parent_id is not None else None
        own = (c.end - c.start) - child_time.get(c.call_id, 0)
        if own > 0:
            stack = ";".join(reversed(chain))
            totals[stack] = totals.get(stack, 0) + own
    return "".join(f"{stack} {ns}\n" for stack, ns in sorted(totals.items()))


def _perfetto(rec: Recording) -> bytes:
    from .perfetto import perfetto
    return perfetto(rec)


def _svg(rec: Recording) -> str:
    from .flamegraph import flamegraph_svg
    return flamegraph_svg(rec)


WRITERS = {"svg": _svg, "perfetto": _perfetto, "chrome": chrome, "speedscope": speedscope, "folded": folded}
