"""Track the threads seen in a recording: name, first/last event, count, start and exit."""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

from scope import kinds

from ..probes.target import nspid
from ..store import schema
from .bounds import capacity

THREADS_FULL = "threads_table_full"    # threads given no row in threads.parquet (past THREADS_MAX)


def _thread_name(pid: int, tid: int) -> str:
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def own_tid(pid: int, tid: int) -> int | None:
    """The id thread ``tid`` (the host's) has in its own PID namespace (None: gone)."""
    ids = nspid(pid, tid)
    return ids[-1] if ids else None


class HostTids:
    """Thread ids of one process as it sees them (its own PID namespace: the shim
    writes gettid()) -> the host's, which the kernel's events carry. Learnt from
    /proc/PID/task/*/status when an unknown id appears; a thread that ended
    before scope saw it keeps its own id (``unknown`` counts them)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._host: dict[int, int] = {}
        self.unknown: set[int] = set()

    def _learn(self) -> None:
        try:
            tasks = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            return
        for task in tasks:
            own = own_tid(self.pid, int(task))
            if own is not None:
                self._host[own] = int(task)

    def translate(self, tids: np.ndarray) -> np.ndarray:
        """``tids`` (the process's own ids) as the host's; in place."""
        seen = np.unique(tids)
        if any(int(t) not in self._host for t in seen):
            self._learn()
        for t in seen.tolist():
            host = self._host.get(t)
            if host is None:
                self.unknown.add(t)
            elif host != t:
                tids[tids == t] = host
        return tids


def in_own_pid_namespace(pid: int) -> bool:
    """Whether ``pid`` lives in a PID namespace below the host's (a container)."""
    return len(nspid(pid)) > 1


class ThreadTracker:
    """One row per thread seen, at most ``max_rows`` (bounds.THREADS_MAX): a
    thread past it gets no row (its events are stored as ever) and is counted."""

    def __init__(self, max_rows: int | None = None) -> None:
        self.max_rows = capacity("THREADS_MAX") if max_rows is None else max_rows
        # (pid, tid) -> [pid, tid, name, first, last, count, started, exited, ns_tid]
        self._rows: dict[tuple[int, int], list] = {}
        self._own: dict[tuple[int, int], int] = {}     # ids read early (`learn`)
        self._refused: set[tuple[int, int]] = set()    # threads given no row (each counted once, while it fits)
        self.dropped = 0

    def learn(self, pid: int, tid: int) -> None:
        """Read a thread's own id now, while it surely lives (a followed child held
        stopped at its fork): a short-lived process may be gone when its first
        events are read, and its id with it."""
        own = own_tid(pid, tid)
        if own is not None and len(self._own) < self.max_rows:
            self._own[(pid, tid)] = own

    def _row(self, pid: int, tid: int, ts: int) -> list | None:
        row = self._rows.get((pid, tid))
        if row is None:
            if len(self._rows) >= self.max_rows:
                if (pid, tid) not in self._refused:
                    self.dropped += 1
                    if len(self._refused) < self.max_rows:
                        self._refused.add((pid, tid))
                return None
            own = own_tid(pid, tid)
            row = self._rows[(pid, tid)] = [pid, tid, _thread_name(pid, tid), ts, ts, 0, None, None,
                                            own if own is not None else self._own.get((pid, tid))]
        return row

    def feed(self, ev: np.ndarray) -> None:
        if not len(ev):
            return
        keys = (ev["pid"].astype(np.int64) << 32) | ev["tid"].astype(np.int64)
        order = np.argsort(keys, kind="stable")
        uniq, starts, counts = np.unique(keys[order], return_index=True, return_counts=True)
        ts = ev["ts"][order]
        firsts, lasts = np.minimum.reduceat(ts, starts), np.maximum.reduceat(ts, starts)
        for key, first, last, count in zip(uniq.tolist(), firsts.tolist(), lasts.tolist(), counts.tolist()):
            row = self._row(key >> 32, key & 0xFFFFFFFF, first)
            if row is None:
                continue
            row[3] = min(row[3], first)
            row[4] = max(row[4], last)
            row[5] += count
        for e in ev[(ev["kind"] == kinds.THREAD_START) | (ev["kind"] == kinds.THREAD_EXIT)
                    | (ev["kind"] == kinds.EXIT)]:
            row = self._row(int(e["pid"]), int(e["tid"]), int(e["ts"]))
            if row is None:
                continue
            if e["kind"] == kinds.THREAD_START:
                row[6] = int(e["ts"])
            else:
                row[7] = int(e["ts"])

    def __len__(self) -> int:
        return len(self._rows)

    def drops(self) -> dict[str, int]:
        """Threads given no row (only when some were: session.json's drops)."""
        return {THREADS_FULL: self.dropped} if self.dropped else {}

    def table(self) -> pa.Table:
        rows = sorted(self._rows.values(), key=lambda r: (r[0], r[1]))
        cols = list(zip(*rows)) if rows else [[]] * len(schema.THREADS)
        return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema.THREADS)],
                                    schema=schema.THREADS)
