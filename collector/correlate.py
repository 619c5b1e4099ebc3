"""Turn call/return events into calls: ids, parents, depth, durations, self time.

Pure (no I/O). Rules, per thread (events of one thread arrive in order):

* a return that matches the top of the thread's stack completes that call
  (status ``raised`` when the shim flags an exception, with its type's id);
* a return whose entry was never seen (the call was running at attach, or the
  interpreter does not report entries: CPython 3.11 reports them only while a
  profile function is set) becomes a call with status ``start_unseen``; with
  ``adopt_roots`` (only valid when every entry is reported, e.g. the shim's
  transport) it adopts the completed calls that had no parent yet — they ran
  inside it, since it was running all along on the same thread (only those
  finished since the last ``drain()``: drained rows are on disk). Without a
  reliable entry stream (3.11 reports entries for some generator frames only,
  and a return for every yield) adopting would guess, so it is off by default;
* a return that matches a frame deeper in the stack closes the frames above
  it as ``broken`` (their returns were lost, or they unwound without one);
* generators and coroutines (shim flags): a yield suspends the call, a resume
  continues the same call, possibly on another thread — one call from first
  start to final return; its self time counts only the slices it ran. A
  generator id seen again in a new call means the suspended one was dropped
  unfinished: ``abandoned``;
* a loss marker (kind ``loss``: the shim's ring or the kernel's buffer was
  full; it sits in the stream exactly where records went missing) or
  ``mark_loss()`` closes the open frames of that process (pid 0: of all) as
  ``broken`` instead of guessing how the lost events nested;
* ``finish()`` leaves the frames still running or suspended as ``open``;
* asyncio: a coroutine entered outside any task (by the event loop) starts a
  task, named by its generator id; every call under it, across its awaits,
  carries that task (``task`` column), so each task's calls form a logical
  stack of their own.

Completed calls (complete + start_unseen + raised) therefore equal the final
returns seen, and no loss can make one call the parent of a call it did not contain.
"""
from __future__ import annotations

from array import array

import numpy as np

from scope import kinds

from ..store.derive import D_CALL, D_RETURN
from .bounds import capacity

LINES_FULL = "first_lines_full"   # call records whose code's first line was not kept (bounds.py)


def line_key(pid: int, code: int) -> int:
    """The key of a code object's first line: code ids are per process (each
    process's shim numbers its own), so the pid is part of it."""
    return (pid << 32) | (code & 0xFFFF_FFFF)


_COLUMNS = ("call_id", "parent_id", "depth", "pid", "tid", "code_id",
            "start_ns", "end_ns", "self_ns", "exc_id", "task", "derived")
# the `derived` column (store/derive.py): which of its events a row stands for —
# a shim ring's plain call (plain return) marked kinds.F_DERIVED, which the
# events table leaves out
NULL = -1  # stands for null in the int64 columns until to_columns()
MAX_ROOTS = 4096   # adoptable top-level calls kept per thread; past it the oldest half stay parentless


class _Frame:
    __slots__ = (
        "active_ns",
        "call_id",
        "child_ns",
        "code",
        "exact",
        "gen",
        "row",
        "slice_start",
        "start",
        "task",
    )

    def __init__(self, row, call_id, code, start, gen=0, task=0):
        self.row = row
        self.call_id = call_id
        self.code = code
        self.start = start
        self.slice_start = start
        self.active_ns = 0
        self.child_ns = 0
        self.exact = start != NULL   # self time is exact (all children's times known)
        self.gen = gen
        self.task = task


def task_of(stack: list, flags: int, gen: int) -> int:
    """The asyncio task a new call belongs to: its caller's; a coroutine entered
    outside any task (by the event loop) starts one, named by its generator id."""
    if stack and stack[-1].task:
        return stack[-1].task
    return gen if gen and flags & kinds.F_CORO else 0


class PyCorrelator:
    """The reference implementation: feed call/return events; read the calls table at the end.

    ``Correlator`` below runs the same rules in C (collector/_correlate.c); the
    tests hold the two to identical output on generated streams.
    """

    def __init__(self, *, adopt_roots: bool = False, max_lines: int = 1 << 62) -> None:
        self.adopt_roots = adopt_roots
        self.max_lines = max_lines        # first_line holds at most this many code objects
        self.lines_dropped = 0            # call records whose code's first line was not kept
        self._cols = {name: array("q") for name in _COLUMNS}
        self._status: list[str] = []
        self._stacks: dict[tuple[int, int], list[_Frame]] = {}
        self._roots: dict[tuple[int, int], list[int]] = {}   # rows with no parent yet
        self._suspended: dict[tuple[int, int], _Frame] = {}  # (pid, generator id) -> frame
        self._next_id = 1
        self.first_line: dict[int, int] = {}      # line_key(pid, code) -> the first entry's line

    def __len__(self) -> int:
        return len(self._status)

    # -- building rows -------------------------------------------------------
    def _new_row(self, pid, tid, code, start, depth, parent, task=0) -> tuple[int, int]:
        call_id = self._next_id
        self._next_id += 1
        for name, value in (("call_id", call_id), ("parent_id", parent), ("depth", depth),
                            ("pid", pid), ("tid", tid), ("code_id", code), ("start_ns", start),
                            ("end_ns", NULL), ("self_ns", NULL), ("exc_id", 0), ("task", task),
                            ("derived", 0)):
            self._cols[name].append(value)
        self._status.append(kinds.OPEN)
        return len(self._status) - 1, call_id

    def _close(self, frame: _Frame, end: int, status: str) -> None:
        self._cols["end_ns"][frame.row] = end
        self._status[frame.row] = status
        if end != NULL and frame.exact and status in (kinds.COMPLETE, kinds.RAISED):
            self._cols["self_ns"][frame.row] = frame.active_ns - frame.child_ns

    def _pop_slice(self, stack: list[_Frame], ts: int) -> _Frame:
        """Take the top frame off the stack at ``ts``; its caller counts the slice as child time."""
        frame = stack.pop()
        ran = ts - frame.slice_start if frame.slice_start != NULL else NULL
        if ran == NULL:
            frame.exact = False
        else:
            frame.active_ns += ran
        if stack:
            if ran == NULL:
                stack[-1].exact = False
            else:
                stack[-1].child_ns += ran
        return frame

    # -- events ----------------------------------------------------------------
    def feed(self, ts: np.ndarray, pid: np.ndarray, tid: np.ndarray, kind: np.ndarray,
             code: np.ndarray, line: np.ndarray, flags: np.ndarray | None = None,
             arg: np.ndarray | None = None) -> None:
        """Process events in arrival order (call/return, and loss markers)."""
        sel = (kind == kinds.CALL) | (kind == kinds.RETURN) | (kind == kinds.LOSS)
        n = int(sel.sum())
        flags = np.zeros(n, np.int64) if flags is None else flags[sel]
        arg = np.zeros(n, np.int64) if arg is None else arg[sel]
        for t, p, th, k, c, ln, fl, g in zip(
                ts[sel].tolist(), pid[sel].tolist(), tid[sel].tolist(), kind[sel].tolist(),
                code[sel].tolist(), line[sel].tolist(), flags.tolist(), arg.tolist()):
            if k == kinds.LOSS:
                self.mark_loss(p)
                continue
            key = (p, th)
            stack = self._stacks.get(key)
            if stack is None:
                stack = self._stacks[key] = []
            if k == kinds.CALL:
                self._call(key, stack, p, th, c, t, ln, fl, g)
            else:
                self._return(key, stack, p, th, c, t, ln, fl, g)

    def _call(self, key, stack, pid, tid, code, ts, line, flags, gen) -> None:
        if gen:
            waiting = self._suspended.pop((pid, gen), None)
            if flags & kinds.F_RESUME:
                if waiting is not None:
                    waiting.slice_start = ts
                    stack.append(waiting)
                    return
                # resumed, but its start and last yield were not seen
                parent = stack[-1].call_id if stack else NULL
                task = task_of(stack, flags, gen)
                row, call_id = self._new_row(pid, tid, code, NULL, len(stack), parent, task)
                frame = _Frame(row, call_id, code, NULL, gen, task)
                frame.slice_start = ts
                stack.append(frame)
                return
            if waiting is not None:
                # the id is back in a new generator: the suspended one was dropped
                self._close(waiting, NULL, kinds.ABANDONED)
        parent = stack[-1].call_id if stack else NULL
        task = task_of(stack, flags, gen)
        row, call_id = self._new_row(pid, tid, code, ts, len(stack), parent, task)
        if flags & kinds.F_DERIVED:
            self._cols["derived"][row] = D_CALL
        stack.append(_Frame(row, call_id, code, ts, gen, task))
        if line_key(pid, code) not in self.first_line:
            if len(self.first_line) >= self.max_lines:
                self.lines_dropped += 1
            else:
                self.first_line[line_key(pid, code)] = line

    def _return(self, key, stack, pid, tid, code, ts, line, flags, gen) -> None:
        if stack and stack[-1].code == code:
            self._finish_frame(key, stack, ts, line, flags, gen)
            return
        for depth in range(len(stack) - 2, -1, -1):
            if stack[depth].code == code:
                while len(stack) > depth + 1:
                    self._close(self._pop_slice(stack, ts), NULL, kinds.BROKEN)
                    stack[-1].exact = False
                self._finish_frame(key, stack, ts, line, flags, gen)
                return
        if flags & kinds.F_YIELD:
            # a generator suspending whose start we never saw: remember it as such
            parent = stack[-1].call_id if stack else NULL
            task = task_of(stack, flags, gen)
            row, call_id = self._new_row(pid, tid, code, NULL, len(stack) if stack else NULL, parent, task)
            frame = _Frame(row, call_id, code, NULL, gen, task)
            if stack:
                stack[-1].exact = False
            if gen:
                self._suspended[(pid, gen)] = frame
            return
        # the entry was not seen
        task = task_of(stack, flags, gen)
        if stack:
            parent = stack[-1]
            row, _ = self._new_row(pid, tid, code, NULL, len(stack), parent.call_id, task)
            parent.exact = False
        else:
            row, call_id = self._new_row(pid, tid, code, NULL, NULL, NULL, task)
            if self.adopt_roots:
                for child in self._roots.pop(key, ()):
                    self._cols["parent_id"][child] = call_id
        self._cols["end_ns"][row] = ts
        if flags & kinds.F_DERIVED:
            self._cols["derived"][row] = D_RETURN
        if flags & kinds.F_RAISED:
            self._status[row] = kinds.RAISED
            self._cols["exc_id"][row] = line & 0xFFFFFFFF   # an id travelling in the s32 line field
        else:
            self._status[row] = kinds.START_UNSEEN

    def _finish_frame(self, key, stack, ts, line, flags, gen) -> None:
        frame = self._pop_slice(stack, ts)
        if flags & kinds.F_YIELD and gen:
            self._suspended[(key[0], gen)] = frame
            return
        if frame.start == NULL:
            self._cols["end_ns"][frame.row] = ts
            self._status[frame.row] = kinds.RAISED if flags & kinds.F_RAISED else kinds.START_UNSEEN
        else:
            self._close(frame, ts, kinds.RAISED if flags & kinds.F_RAISED else kinds.COMPLETE)
        if flags & kinds.F_RAISED:
            self._cols["exc_id"][frame.row] = line & 0xFFFFFFFF   # an id in the s32 line field
        if flags & kinds.F_DERIVED and self._cols["tid"][frame.row] == key[1]:   # on the row's thread only
            self._cols["derived"][frame.row] |= D_RETURN
        if not stack and self.adopt_roots and frame.start != NULL:
            roots = self._roots.setdefault(key, [])
            if len(roots) == MAX_ROOTS:
                del roots[:MAX_ROOTS // 2]
            roots.append(frame.row)

    def top(self, pid: int, tid: int) -> int:
        """The call running on that thread now (-1: none known)."""
        stack = self._stacks.get((pid, tid))
        return stack[-1].call_id if stack else NULL

    def mark_loss(self, pid: int = 0) -> None:
        """Events of process pid (0: of any) were lost: close its open frames as broken."""
        for key, stack in self._stacks.items():
            if pid and key[0] != pid:
                continue
            while stack:
                self._close(stack.pop(), NULL, kinds.BROKEN)
            self._roots.pop(key, None)

    def finish(self) -> None:
        """The recording stopped: frames still running or suspended stay ``open``."""
        for stack in self._stacks.values():
            stack.clear()
        self._suspended.clear()
        self._roots.clear()

    # -- output ------------------------------------------------------------------
    @property
    def issued(self) -> int:
        """Call ids handed out so far."""
        return self._next_id - 1

    def spell_calls(self) -> None:
        """The rows held stop standing for their call events (Correlator.spell_calls)."""
        derived = self._cols["derived"]
        for r in range(len(derived)):
            derived[r] &= ~D_CALL

    def drain(self, everything: bool = False) -> dict[str, np.ndarray | list]:
        """Hand out (as to_columns()) the closed rows and forget them; everything=True
        after finish(). Completed top-level calls go too and stop being adoptable."""
        n = len(self._status)
        keep = [False] * n if everything else [st == kinds.OPEN for st in self._status]
        new_row, kept = {}, 0
        for r in range(n):
            if keep[r]:
                new_row[r] = kept
                kept += 1
        out = {name: array("q", (v for v, k in zip(col, keep) if not k)) for name, col in self._cols.items()}
        status = [st for st, k in zip(self._status, keep) if not k]
        self._cols = {name: array("q", (v for v, k in zip(col, keep) if k)) for name, col in self._cols.items()}
        self._status = [st for st, k in zip(self._status, keep) if k]
        for stack in self._stacks.values():
            for frame in stack:
                frame.row = new_row[frame.row]
        for frame in self._suspended.values():
            frame.row = new_row[frame.row]
        self._roots.clear()
        # a thread with an empty stack carries nothing: forgotten (threads churn)
        self._stacks = {key: stack for key, stack in self._stacks.items() if stack}
        return _as_columns(out, status)

    def threads(self) -> int:
        """Thread entries held (running, or idle since the last drain)."""
        return len(self._stacks)

    def to_columns(self) -> dict[str, np.ndarray | list]:
        """Columns of the calls table; -1 in nullable columns means null, exc_id 0 none."""
        return _as_columns(self._cols, self._status)


def _as_columns(cols: dict, status: list) -> dict[str, np.ndarray | list]:
    out: dict[str, np.ndarray | list] = {
        name: np.frombuffer(col, dtype=np.int64) if len(col) else np.zeros(0, np.int64)
        for name, col in cols.items()}
    start, end = out["start_ns"], out["end_ns"]
    out["duration_ns"] = np.where((start >= 0) & (end >= 0), end - start, NULL)
    out["status"] = list(status)
    return out


STATUS_NAMES = (kinds.OPEN, kinds.COMPLETE, kinds.START_UNSEEN, kinds.BROKEN, kinds.RAISED,
                kinds.ABANDONED)   # the C engine's status codes, in order


class Correlator:
    """The correlator used by the collector: the C engine when built, else the reference."""

    def __init__(self, *, adopt_roots: bool = False, max_lines: int | None = None) -> None:
        """``max_lines``: code objects whose first line is kept (default:
        bounds.FIRST_LINES_MAX); past it, calls of new code objects are
        correlated as ever, their first line unknown and counted."""
        self.adopt_roots = adopt_roots
        max_lines = capacity("FIRST_LINES_MAX") if max_lines is None else max_lines
        try:
            from ._correlate import Engine
        except ImportError:        # not built (e.g. a source checkout without a compiler)
            self._py = PyCorrelator(adopt_roots=adopt_roots, max_lines=max_lines)
            self._engine = None
        else:
            self._py = None
            self._engine = Engine(adopt_roots, max_lines)

    @property
    def first_line(self) -> dict[int, int]:
        return self._py.first_line if self._py else self._engine.first_line

    def __len__(self) -> int:
        return len(self._py) if self._py else self._engine.rows()

    def feed(self, ts, pid, tid, kind, code, line, flags=None, arg=None) -> None:
        if self._py:
            return self._py.feed(ts, pid, tid, kind, code, line, flags, arg)
        n = len(ts)
        as64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)
        zeros = np.zeros(n, np.int64)
        self._engine.feed(as64(ts), as64(pid), as64(tid), as64(kind), as64(code), as64(line),
                          zeros if flags is None else as64(flags), zeros if arg is None else as64(arg))

    def top(self, pid: int, tid: int) -> int:
        return (self._py or self._engine).top(pid, tid)

    def mark_loss(self) -> None:
        (self._py or self._engine).mark_loss()

    def finish(self) -> None:
        (self._py or self._engine).finish()

    @property
    def issued(self) -> int:
        return (self._py or self._engine).issued

    def threads(self) -> int:
        """Thread entries held: those running, and those idle since the last drain."""
        return (self._py or self._engine).threads()

    def drops(self) -> dict[str, int]:
        """What the bound on first lines cost (only when it did: session.json's drops)."""
        lost = (self._py or self._engine).lines_dropped
        return {LINES_FULL: lost} if lost else {}

    def spell_calls(self) -> dict[str, np.ndarray]:
        """The rows still held (running) that were to stand for their call events:
        their columns (shmring.stood_for makes the events), for the caller to store in `events` —
        and from now on the rows do not stand for them. A roll does this, so that
        what it lists holds every record taken so far (a kill then loses no
        call's start: store/spill.py's marks)."""
        cols = self.to_columns()
        held = (cols["derived"] & D_CALL) != 0
        (self._py or self._engine).spell_calls()
        out = {name: cols[name][held] for name in ("start_ns", "end_ns", "pid", "tid", "code_id")}
        return dict(out, derived=np.full(int(held.sum()), D_CALL, np.int64))

    def drain(self, everything: bool = False) -> dict:
        """The final rows so far, handed out once (see PyCorrelator.drain)."""
        if self._py:
            return self._py.drain(everything)
        return self._decode(self._engine.drain(everything))

    def to_columns(self) -> dict:
        if self._py:
            return self._py.to_columns()
        return self._decode(self._engine.columns())

    @staticmethod
    def _decode(raw: dict) -> dict:
        out = {name: np.frombuffer(raw[name], dtype=np.int64) for name in _COLUMNS}
        start, end = out["start_ns"], out["end_ns"]
        out["duration_ns"] = np.where((start >= 0) & (end >= 0), end - start, NULL)
        codes = np.frombuffer(raw["status"], dtype=np.int8)
        out["status"] = np.array(STATUS_NAMES, dtype=object)[codes].tolist()
        return out
