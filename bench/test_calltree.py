"""Folded stacks over 1 M calls: the vectorised call tree (store/calltree.py,
what `export --format folded`, the SVG, stats, tasks and the TUI's flame graph
now use) against the per-call walk of parent chains it replaced (kept here as
the baseline), in the same run.

The calls: 1 M calls in 5,000 trees about 12 levels deep, 200 distinct frames;
each call's self time summed per distinct stack.
"""
from __future__ import annotations

import numpy as np
import pytest

from scope.store import calltree

N = 1_000_000


@pytest.fixture(scope="module")
def calls():
    """A program's shape: 5,000 requests, each a tree of calls about 12 levels
    deep whose frames follow from their caller's (so stacks repeat, as they do)."""
    rng = np.random.default_rng(7)
    parent = [np.full(5_000, -1, np.int64)]
    frame = [rng.integers(0, 10, 5_000)]
    while sum(map(len, parent)) < N:
        up = frame[-1]
        kids = rng.poisson(1.9 if len(parent) < 12 else 0.5, len(up))
        if not kids.sum():
            break
        first = sum(map(len, parent)) - len(up)
        parent.append(np.repeat(np.arange(len(up)) + first, kids))
        order = np.arange(kids.sum()) - np.repeat(np.cumsum(kids) - kids, kids)
        frame.append((np.repeat(up, kids) * 31 + order * 7) % 200)
    parent, frame = np.concatenate(parent)[:N], np.concatenate(frame)[:N]
    ids = np.arange(len(parent), dtype=np.int64)
    dur = rng.integers(1_000, 100_000, len(parent))
    return ids, parent, frame, dur


def vectorised(ids, parent, frame, dur) -> dict[str, int]:
    tree = calltree.build(ids, parent, frame)
    own = calltree.self_times(tree, dur)
    totals = np.bincount(tree.stack, weights=own, minlength=len(tree.stack_parent))
    stacks = calltree.stack_labels(tree, [f"f{i}" for i in range(int(frame.max()) + 1)], ";")
    return {stacks[s]: int(totals[s]) for s in np.flatnonzero(totals).tolist()}


def walked(ids, parent, frame, dur) -> dict[str, int]:
    """The replaced code's shape: a dict by id, a child-time pass, a chain walk per call."""
    ids, parent, frame, dur = ids.tolist(), parent.tolist(), frame.tolist(), dur.tolist()
    row_of = {c: i for i, c in enumerate(ids)}
    child: dict[int, int] = {}
    for i, p in enumerate(parent):
        if p in row_of:
            child[p] = child.get(p, 0) + dur[i]
    out: dict[tuple, int] = {}
    for i, c in enumerate(ids):
        chain, j = [], i
        while j is not None:
            chain.append(f"f{frame[j]}")
            j = row_of.get(parent[j])
        key = ";".join(reversed(chain))
        out[key] = out.get(key, 0) + dur[i] - child.get(c, 0)
    return {k: v for k, v in out.items() if v}


def test_folded_vectorised(benchmark, calls):
    got = benchmark.pedantic(lambda: vectorised(*calls), rounds=3, iterations=1)
    assert got == walked(*calls)          # the same stacks and totals, exactly


def test_folded_walking_chains_baseline(benchmark, calls):
    benchmark.pedantic(lambda: walked(*calls), rounds=3, iterations=1)
