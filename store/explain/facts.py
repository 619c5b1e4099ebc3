"""What every detector of `scope explain` reads, read once: a recording's
calls (scope's own left out, spans too) as numpy columns with their call
tree, the function of each, and the recording's wall time. Pure after the
read: detectors are functions of these facts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scope import kinds

from ...errors import RecordingError
from .. import calltree
from ..names import named_calls
from ..reader import Recording
from ..waits import IDLE

NULL = -1
# the import system's own frames' file: their time is imports', which import-cost reports
IMPORTS = "<frozen importlib"


def _ints(t: pa.Table, name: str) -> np.ndarray:
    return pc.fill_null(t[name], NULL).to_numpy(zero_copy_only=False).astype(np.int64)


@dataclass
class Facts:
    """Per call (one row each, the same order in every array): ``call_id``,
    ``parent`` (row, -1: none among these), ``pid``, ``tid``, ``start``,
    ``end``, ``dur``, ``self_ns`` (-1 where unknown), ``frame`` (an index into
    ``frames``: (function, file, first line)), ``status``, ``exception``,
    ``task`` (asyncio's, -1: none; a coroutine's row spans its awaits, and
    its self time is only the time it ran). And
    the recording: ``wall_ns`` (its length), ``origin`` (what seconds count
    from). ``idle``, per frame: one of the usual waiting frames (store/waits.py
    IDLE: a join, a queue's get, a selector), whose long calls are waiting by design."""

    rec: Recording
    call_id: np.ndarray
    parent: np.ndarray
    pid: np.ndarray
    tid: np.ndarray
    start: np.ndarray
    end: np.ndarray
    dur: np.ndarray
    self_ns: np.ndarray
    frame: np.ndarray
    frames: list[tuple]
    status: np.ndarray
    exception: list
    task: np.ndarray          # the asyncio task of each call (-1: none)
    wall_ns: int
    origin: int
    idle: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))   # per frame: a usual waiting frame
    _read: dict = field(default_factory=dict, repr=False)    # optional tables, read once (offcpu)

    def where(self, frame: int) -> dict:
        """A function as findings name it: its name, file and first line."""
        fn, fl, ln = self.frames[frame]
        return {"function": fn or "?", "file": fl or "?", "line": ln}

    def seconds(self, ns: int) -> float:
        """A time as seconds from the recording's start (as `scope query` shows them)."""
        return round((int(ns) - self.origin) / 1e9, 6)

    def stack(self, row: int, limit: int = 12) -> list[str]:
        """The functions from the outermost call down to ``row`` (the innermost
        ``limit`` of them)."""
        out = []
        for _ in range(len(self.parent)):
            if row < 0:
                break
            out.append(self.frames[self.frame[row]][0] or "?")
            row = int(self.parent[row])
        return out[:limit][::-1]

    def call(self, row: int) -> dict:
        """One call as evidence: its id, thread, when, how long."""
        return {"call_id": int(self.call_id[row]), "tid": int(self.tid[row]), "start_s": self.seconds(self.start[row]),
                "duration_ns": int(self.dur[row])}

    def at(self, row: int) -> dict:
        """A call as the place a finding points to (the TUI goes there)."""
        end = int(self.end[row]) if self.end[row] >= 0 else int(self.start[row])
        return {"pid": int(self.pid[row]), "tid": int(self.tid[row]), "start_ns": int(self.start[row]),
                "end_ns": end, "call_id": int(self.call_id[row])}

    def offcpu(self) -> pa.Table | None:
        """The recording's off-CPU intervals, read once (None: recorded without --offcpu)."""
        if "offcpu" not in self._read:
            try:
                self._read["offcpu"] = self.rec.offcpu()
            except RecordingError:
                self._read["offcpu"] = None
        return self._read["offcpu"]

    def share(self, ns: int) -> float:
        return round(ns / self.wall_ns, 4) if self.wall_ns > 0 else 0.0

    def within(self, row: int) -> np.ndarray:
        """The rows of calls made during ``row`` on its thread (itself included):
        started at or after it, ended by its end."""
        end = self.end[row] if self.end[row] >= 0 else np.iinfo(np.int64).max
        return np.flatnonzero((self.pid == self.pid[row]) & (self.tid == self.tid[row]) &
                              (self.start >= self.start[row]) & (self.start <= end) &
                              ((self.end <= end) | (self.end < 0)))


def facts(rec: Recording) -> Facts:
    """The facts of a recording (one read of its calls and code)."""
    t = named_calls(rec.calls(), rec.code())
    t = t.filter(pc.equal(pc.cast(t["kind"], pa.string()), "call"))
    call_id = _ints(t, "call_id")
    parent, _ = calltree.untangle(calltree.parent_rows(call_id, _ints(t, "parent_id")))
    frame, frames = calltree.frames_of(zip(t["function"].to_pylist(), t["file"].to_pylist(),
                                          t["first_line"].to_pylist()))
    start, end = _ints(t, "start_ns"), _ints(t, "end_ns")
    meta = rec.meta
    wall = int(meta.get("stopped_ns") or 0) - int(meta.get("started_ns") or 0)
    if wall <= 0 and len(call_id):
        wall = int(end.max()) - int(start[start >= 0].min(initial=end.max()))
    idle = np.array([bool(fn and fl) and any(fl.endswith(end) and fn in names for end, names in IDLE.items())
                     for fn, fl, _ in frames] or [False])
    return Facts(rec=rec, idle=idle, call_id=call_id, parent=parent, pid=_ints(t, "pid"), tid=_ints(t, "tid"),
                 start=start, end=end, dur=_ints(t, "duration_ns"), self_ns=_ints(t, "self_ns"), frame=frame,
                 frames=frames, status=np.array(pc.cast(t["status"], pa.string()).to_pylist(), dtype=object),
                 exception=t["exception"].to_pylist(), task=_ints(t, "task"), wall_ns=max(wall, 0),
                 origin=rec.start_ns)


def done(f: Facts) -> np.ndarray:
    """Rows of calls that ran to their end (returned or raised) with a known duration."""
    return np.flatnonzero(np.isin(f.status, [kinds.COMPLETE, kinds.RAISED]) & (f.dur >= 0))
