"""The call tree of a set of calls, vectorised: each call's parent row, depth,
stack id (the distinct root-to-call path of frames) and self time.

Every view that walks `parent_id` chains — folded stacks, stats' stacks,
asyncio tasks, the TUI's flame graph, the nesting of exports — reads them from
here, so a 5 M-call recording needs no Python object per call.

Recordings are untrusted input: a parent chain that loops (a damaged or forged
calls table) ends where the loop is found — those calls become roots — so no
walk can run forever. Pure numpy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_HOPS = 64          # pointer doubling: 2**64 levels, more than any real stack


@dataclass(frozen=True)
class CallTree:
    """Per row of the input (same order): ``parent`` (row index, -1 for a root),
    ``depth`` (0 for a root), ``stack`` (-1 if deeper than the limit asked for);
    per stack id: ``stack_parent`` (stack id, -1 at the top) and ``stack_frame``
    (the frame index given)."""

    parent: np.ndarray
    depth: np.ndarray
    stack: np.ndarray
    stack_parent: np.ndarray
    stack_frame: np.ndarray

    def chain(self, row: int) -> list[int]:
        """The rows from the root down to ``row`` (for one call; vectorised views use `stack`)."""
        out = [row]
        while self.parent[out[-1]] >= 0 and len(out) <= self.depth[row]:
            out.append(int(self.parent[out[-1]]))
        return out[::-1]

    def stack_frames(self, sid: int) -> list[int]:
        """The frame indices of stack ``sid``, root first."""
        out = []
        while sid >= 0:
            out.append(int(self.stack_frame[sid]))
            sid = int(self.stack_parent[sid])
        return out[::-1]


def stack_labels(tree: CallTree, labels: list[str], sep: str) -> list[str]:
    """Every stack's frames as one string, root first, joined by ``sep``
    (``labels``: a string per frame index). Built from each stack's parent's:
    parents have lower ids."""
    out: list[str] = []
    for up, f in zip(tree.stack_parent.tolist(), tree.stack_frame.tolist()):
        out.append(labels[f] if up < 0 else out[up] + sep + labels[f])
    return out


def parent_rows(call_id: np.ndarray, parent_id: np.ndarray) -> np.ndarray:
    """The row of each call's parent among these calls (-1: not among them).
    (Any ids do: the row of each of them among the calls.)"""
    n = len(call_id)
    if not n:
        return np.full(len(parent_id), -1, np.int64)
    order = np.argsort(call_id, kind="stable")
    ids = call_id[order]
    pos = np.minimum(np.searchsorted(ids, parent_id), n - 1)
    found = ids[pos] == parent_id
    return np.where(found, order[pos], -1).astype(np.int64)


def running_at(pid: np.ndarray, tid: np.ndarray, start: np.ndarray, end: np.ndarray, parent: np.ndarray,
               points: list[tuple[int, int, int]]) -> np.ndarray:
    """For each (pid, tid, ts) point, the row of the innermost call running on
    that thread then (-1: none): the latest call started at or before ts, then
    up its parents (``parent``: rows, as `untangle` gives) until one had not
    yet returned. ``start``/``end``: -1 where unknown (an end unknown: still
    running). Off-CPU intervals, GC pauses and imports are placed by it."""
    out = np.full(len(points), -1, np.int64)
    seen = start >= 0
    threads: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for k, (p, t, ts) in enumerate(points):
        if (p, t) not in threads:
            rows = np.flatnonzero(seen & (pid == p) & (tid == t))
            order = rows[np.argsort(start[rows], kind="stable")]
            threads[(p, t)] = (order, start[order])
        rows, starts = threads[(p, t)]
        i = int(np.searchsorted(starts, ts, side="right")) - 1
        r = int(rows[i]) if i >= 0 else -1
        for _ in range(len(parent)):          # a chain is never longer than the rows
            if r < 0 or end[r] < 0 or end[r] >= ts:
                break
            r = int(parent[r])
        out[k] = r
    return out


def _jump(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pointer doubling: (the row each chain ends at, or -1 for a root; hops to it)."""
    up = parent.copy()
    depth = (up >= 0).astype(np.int64)
    for _ in range(MAX_HOPS):
        nxt = np.maximum(up, 0)
        hop = (up >= 0) & (up[nxt] >= 0)
        if not hop.any():
            break
        depth = np.where(hop, depth + depth[nxt], depth)   # both from the old arrays
        up = np.where(hop, up[nxt], up)
    return up, depth


def untangle(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parent, depth) of every row, where a row whose chain never reaches a
    root (it loops) is made a root at depth 0."""
    up, depth = _jump(parent)
    looped = (up >= 0) & (parent[np.maximum(up, 0)] >= 0)
    if looped.any():
        parent = np.where(looped, -1, parent)
        up, depth = _jump(parent)
    return parent, depth


def roots(parent: np.ndarray) -> np.ndarray:
    """The root row of every row (itself for a root; loops cut as in `untangle`)."""
    up, _ = _jump(untangle(parent)[0])
    return np.where(up >= 0, up, np.arange(len(parent)))


def build(call_id: np.ndarray, parent_id: np.ndarray, frame: np.ndarray | None = None, *,
          max_depth: int | None = None) -> CallTree:
    """The tree of calls given by id and parent id (a null parent as -1);
    ``frame``: an integer per call saying which calls are one frame (e.g. a
    dictionary index of function, file and first line); stacks are interned
    over it. ``max_depth``: calls deeper are left without a stack (-1)."""
    call_id = np.asarray(call_id, np.int64)
    parent, depth = untangle(parent_rows(call_id, np.asarray(parent_id, np.int64)))
    n = len(call_id)
    stack = np.full(n, -1, np.int64)
    if frame is None or not n:
        empty = np.zeros(0, np.int64)
        return CallTree(parent, depth, stack, empty, empty)
    frame = np.asarray(frame, np.int64)
    order = np.argsort(depth, kind="stable")
    edges = np.searchsorted(depth[order], np.arange(int(depth.max()) + 2))
    top = int(depth.max()) if max_depth is None else min(int(depth.max()), max_depth - 1)
    nframes = int(frame.max()) + 1
    stack_parent, stack_frame, count = [], [], 0
    for d in range(top + 1):
        rows = order[edges[d]:edges[d + 1]]
        up = stack[parent[rows]] if d else np.full(len(rows), -1, np.int64)
        # (parent stack, frame) interned: unique within a level is unique overall
        key = (up + 1) * nframes + frame[rows]
        uniq, inverse = np.unique(key, return_inverse=True)
        stack[rows] = count + inverse.ravel()
        stack_parent.append(uniq // nframes - 1)
        stack_frame.append(uniq % nframes)
        count += len(uniq)
    return CallTree(parent, depth, stack, np.concatenate(stack_parent or [np.zeros(0, np.int64)]),
                    np.concatenate(stack_frame or [np.zeros(0, np.int64)]))


def of_lists(call_id: list, parent_id: list) -> CallTree:
    """`build` for columns read as Python lists (a null parent as None)."""
    return build(np.array(call_id, np.int64), np.array([-1 if p is None else p for p in parent_id], np.int64))


def self_times(tree: CallTree, duration: np.ndarray) -> np.ndarray:
    """Each call's duration less its children's (those among the calls given)."""
    duration = np.asarray(duration, np.int64)
    has = tree.parent >= 0
    child = np.bincount(tree.parent[has], weights=duration[has], minlength=len(duration))
    return duration - child.astype(np.int64)


def frames_of(values) -> tuple[np.ndarray, list]:
    """A frame index per value (anything hashable; e.g. (function, file, line)),
    and the distinct values by index."""
    index: dict = {}
    out = np.fromiter((index.setdefault(v, len(index)) for v in values), np.int64)
    return out, list(index)
