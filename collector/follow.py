"""The processes of a recording: the target and the children it forks.

With --follow (scope run does it by default) the kernel holds each child of a
recorded process: task_newtask marks it, and its first return to user space
(raw_syscalls:sys_exit, kernel.bpf.c) stops it with SIGSTOP before it runs an
instruction. The collector attaches the child's probes, then sends SIGCONT, so
every call of the child is recorded. A child that execs the same interpreter
stays recorded (its probes follow the pid); one that execs another program is
kept as a process row with its lifecycle only.
"""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pyarrow as pa

from .. import kinds
from ..store import schema

HOLD_TIMEOUT_S = 2.0   # a child never seen stopped is let go after this


def _proc(pid: int, name: str) -> str:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as fh:
            return fh.read().replace(b"\0", b" ").strip().decode(errors="replace")
    except OSError:
        return ""


def _stopped(pid: int) -> bool | None:
    """True if stopped, False if running, None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    if state in ("Z", "X"):
        return None
    return state in ("T", "t")


def _exe(pid: int) -> str:
    """The program ``pid`` runs ("" once it is gone: it may exit between any two
    reads of /proc, so one read — realpath would lstat, then readlink)."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    return _stopped(pid) is not None


def release(pid: int, timeout: float = HOLD_TIMEOUT_S) -> bool:
    """Let a held child go: wait until it has stopped (a SIGCONT sent before its
    SIGSTOP would leave it stopped for good), then continue it."""
    deadline = time.monotonic() + timeout
    while True:
        state = _stopped(pid)
        if state is None:
            return False
        if state or time.monotonic() >= deadline:
            break
        time.sleep(0.0005)
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        return False
    return True


class Processes:
    """One row per process: the target, then each child seen forking."""

    def __init__(self, target) -> None:
        self.root = target.pid
        self._rows = {target.pid: {"pid": target.pid, "exe": target.exe,
                                   "cmdline": " ".join(target.cmdline),
                                   "python_version": target.version_text, "user": target.username,
                                   "exit_code": None, "ppid": None, "start_ns": None,
                                   "end_ns": None, "followed": True}}
        self.image_ends: dict[int, list[int]] = {}   # pid -> when a program image ended (exec, exit)

    def forked(self, parent: int, child: int, ts: int, followed: bool) -> None:
        p = self._rows.get(parent, {})
        self._rows[child] = {"pid": child, "exe": p.get("exe", ""), "cmdline": p.get("cmdline", ""),
                             "python_version": p.get("python_version", ""), "user": p.get("user", ""),
                             "exit_code": None, "ppid": parent, "start_ns": ts, "end_ns": None,
                             "followed": followed}

    def execed(self, pid: int, ts: int, program: str | None = None) -> None:
        """`pid` became another program at `ts`; `program`: its path as the kernel
        saw exec given it (None: not known), used when the process is already gone."""
        self.image_ends.setdefault(pid, []).append(ts)
        row = self._rows.get(pid)
        if row is not None:
            exe = _exe(pid)
            cmdline = _proc(pid, "cmdline")
            if not exe and program:          # gone already: the kernel's word for it
                exe, cmdline = os.path.realpath(program), cmdline or program
            if exe and exe != row["exe"]:
                # another program: not known to be Python (an interpreter re-exec'ing itself keeps it)
                row["python_version"] = ""
            row["exe"], row["cmdline"] = exe or row["exe"], cmdline or row["cmdline"]

    def exited(self, pid: int, ts: int) -> None:
        self.image_ends.setdefault(pid, []).append(ts)
        if pid in self._rows:
            self._rows[pid]["end_ns"] = ts

    def followed(self) -> list[int]:
        return [pid for pid, r in self._rows.items() if r["followed"]]

    def children_alive(self) -> bool:
        """A followed child has not been seen exiting (and still exists)."""
        return any(r["end_ns"] is None and alive(pid)
                   for pid, r in self._rows.items() if r["followed"] and pid != self.root)

    def __len__(self) -> int:
        return len(self._rows)

    def table(self, root_exit_code: int | None) -> pa.Table:
        self._rows[self.root]["exit_code"] = root_exit_code
        return pa.Table.from_pylist(list(self._rows.values()), schema=schema.PROCESSES)


def end_with_their_process(cols: dict, image_ends: dict[int, list[int]]) -> int:
    """Calls still open at the end whose process exited or exec'd after they
    started ended then (status ``ended``): their frames were gone. In place;
    returns how many."""
    status, pid, start = cols["status"], cols["pid"], cols["start_ns"]
    # the final drain holds every call since the last roll: one vectorised pass, not one per pid
    candidates = (np.asarray(status, dtype=object) == kinds.OPEN) & (start >= 0)
    candidates &= np.isin(pid, list(image_ends))
    if not candidates.any():
        return 0
    cols["end_ns"], cols["duration_ns"] = cols["end_ns"].copy(), cols["duration_ns"].copy()
    changed = 0
    for p, ends in image_ends.items():
        ends = np.sort(np.asarray(ends, dtype=np.int64))
        rows = np.flatnonzero(candidates & (pid == p))
        at = np.searchsorted(ends, start[rows], side="right")     # the first image end after the start
        ended, at = rows[at < len(ends)], at[at < len(ends)]
        cols["end_ns"][ended] = ends[at]
        cols["duration_ns"][ended] = ends[at] - start[ended]
        for i in ended:
            status[i] = kinds.ENDED
        changed += len(ended)
    return changed
