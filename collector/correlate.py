"""Turn call/return events into calls: ids, parents, depth, durations, self time.

Pure (no I/O). Rules, per thread (events of one thread arrive in order):

* a return that matches the top of the thread's stack completes that call;
* a return whose entry was never seen (the call was running at attach, or the
  interpreter does not report entries: CPython 3.11 reports them only while a
  profile function is set) becomes a call with status ``start_unseen``; with
  ``adopt_roots`` (only valid when every entry is reported, e.g. the shim's
  transport) it adopts the completed calls that had no parent yet — they ran
  inside it, since it was running all along on the same thread. Without a
  reliable entry stream (3.11 reports entries for some generator frames only,
  and a return for every yield) adopting would guess, so it is off by default;
* a return that matches a frame deeper in the stack closes the frames above
  it as ``broken`` (their returns were lost, or they unwound without one);
* ``mark_loss()`` (the kernel dropped events) closes every open frame as
  ``broken`` instead of guessing how the lost events nested;
* ``finish()`` leaves the frames still open as ``open``.

Completed calls (complete + start_unseen) therefore equal the returns seen,
and no loss can make one call the parent of a call it did not contain.
"""
from __future__ import annotations

from array import array

import numpy as np

from scope import kinds

_COLUMNS = ("call_id", "parent_id", "depth", "pid", "tid", "code_id",
            "start_ns", "end_ns", "self_ns")
NULL = -1  # stands for null in the int64 columns until to_columns()


class _Frame:
    __slots__ = ("row", "call_id", "code", "start", "child_ns", "exact")

    def __init__(self, row, call_id, code, start):
        self.row = row
        self.call_id = call_id
        self.code = code
        self.start = start
        self.child_ns = 0
        self.exact = True   # self time is exact (all children's durations known)


class Correlator:
    """Feed call/return events thread by thread; read the calls table at the end."""

    def __init__(self, *, adopt_roots: bool = False) -> None:
        self.adopt_roots = adopt_roots
        self._cols = {name: array("q") for name in _COLUMNS}
        self._status: list[str] = []
        self._stacks: dict[tuple[int, int], list[_Frame]] = {}
        self._roots: dict[tuple[int, int], list[int]] = {}   # rows with no parent yet
        self._next_id = 1
        self.first_line: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._status)

    # -- building rows -------------------------------------------------------
    def _new_row(self, pid, tid, code, start, depth, parent) -> tuple[int, int]:
        call_id = self._next_id
        self._next_id += 1
        c = self._cols
        c["call_id"].append(call_id)
        c["parent_id"].append(parent)
        c["depth"].append(depth)
        c["pid"].append(pid)
        c["tid"].append(tid)
        c["code_id"].append(code)
        c["start_ns"].append(start)
        c["end_ns"].append(NULL)
        c["self_ns"].append(NULL)
        self._status.append(kinds.OPEN)
        return len(self._status) - 1, call_id

    def _close(self, frame: _Frame, end: int, status: str) -> None:
        self._cols["end_ns"][frame.row] = end
        self._status[frame.row] = status
        if status == kinds.COMPLETE and frame.exact:
            self._cols["self_ns"][frame.row] = end - frame.start - frame.child_ns

    # -- events ----------------------------------------------------------------
    def feed(self, ts: np.ndarray, pid: np.ndarray, tid: np.ndarray,
             kind: np.ndarray, code: np.ndarray, line: np.ndarray) -> None:
        """Process events in arrival order (only call/return kinds are used)."""
        sel = (kind == kinds.CALL) | (kind == kinds.RETURN)
        for t, p, th, k, c, ln in zip(ts[sel].tolist(), pid[sel].tolist(), tid[sel].tolist(),
                                      kind[sel].tolist(), code[sel].tolist(), line[sel].tolist()):
            key = (p, th)
            stack = self._stacks.get(key)
            if stack is None:
                stack = self._stacks[key] = []
            if k == kinds.CALL:
                parent = stack[-1].call_id if stack else NULL
                row, call_id = self._new_row(p, th, c, t, len(stack), parent)
                stack.append(_Frame(row, call_id, c, t))
                if c not in self.first_line:
                    self.first_line[c] = ln
            else:
                self._return(key, stack, p, th, c, t)

    def _return(self, key, stack, pid, tid, code, ts) -> None:
        if stack and stack[-1].code == code:
            self._complete(key, stack, ts)
            return
        for depth in range(len(stack) - 2, -1, -1):
            if stack[depth].code == code:
                while len(stack) > depth + 1:
                    lost = stack.pop()
                    self._close(lost, NULL, kinds.BROKEN)
                    if stack:
                        stack[-1].exact = False
                self._complete(key, stack, ts)
                return
        # the entry was not seen
        if stack:
            parent = stack[-1]
            row, _ = self._new_row(pid, tid, code, NULL, len(stack), parent.call_id)
            parent.exact = False
        else:
            row, call_id = self._new_row(pid, tid, code, NULL, NULL, NULL)
            if self.adopt_roots:
                for child in self._roots.pop(key, ()):
                    self._cols["parent_id"][child] = call_id
        self._cols["end_ns"][row] = ts
        self._status[row] = kinds.START_UNSEEN

    def _complete(self, key, stack, ts) -> None:
        frame = stack.pop()
        self._close(frame, ts, kinds.COMPLETE)
        if stack:
            stack[-1].child_ns += ts - frame.start
        elif self.adopt_roots:
            self._roots.setdefault(key, []).append(frame.row)

    def mark_loss(self) -> None:
        """Events were lost somewhere: close every open frame as broken."""
        for stack in self._stacks.values():
            while stack:
                self._close(stack.pop(), NULL, kinds.BROKEN)
        self._roots.clear()

    def finish(self) -> None:
        """The recording stopped: frames still on a stack stay ``open``."""
        for stack in self._stacks.values():
            stack.clear()
        self._roots.clear()

    # -- output ------------------------------------------------------------------
    def to_columns(self) -> dict[str, np.ndarray | list]:
        """Columns of the calls table; -1 in nullable columns means null."""
        out: dict[str, np.ndarray | list] = {
            name: np.frombuffer(col, dtype=np.int64) if len(col) else np.zeros(0, np.int64)
            for name, col in self._cols.items()}
        start, end = out["start_ns"], out["end_ns"]
        dur = np.where((start >= 0) & (end >= 0), end - start, NULL)
        out["duration_ns"] = dur
        out["status"] = self._status
        return out
