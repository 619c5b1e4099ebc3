"""store/calltree.py against a plain walk of parent chains, on generated
forests; and on damaged tables whose parent chains loop (they must end)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scope.store import calltree


@st.composite
def forests(draw):
    """Calls with shuffled ids; each parent is an earlier call, none, or an id not present."""
    n = draw(st.integers(0, 60))
    ids = draw(st.permutations(list(range(100, 100 + n))))
    parents = []
    for i in range(n):
        choice = draw(st.integers(-2, i - 1)) if i else draw(st.integers(-2, -1))
        parents.append(-1 if choice == -1 else 9999 if choice == -2 else ids[choice])
    frames = [draw(st.integers(0, 3)) for _ in range(n)]
    durs = [draw(st.integers(0, 1000)) for _ in range(n)]
    return ids, parents, frames, durs


def walk(ids, parents, i):
    """The rows root first, by following ids one at a time (the reference)."""
    row_of = {c: j for j, c in enumerate(ids)}
    chain = [i]
    while parents[chain[-1]] in row_of:
        chain.append(row_of[parents[chain[-1]]])
    return chain[::-1]


@settings(max_examples=200, deadline=None)
@given(forests())
def test_tree_matches_walking_the_chains(forest):
    ids, parents, frames, durs = forest
    tree = calltree.build(np.array(ids, np.int64), np.array(parents, np.int64), np.array(frames, np.int64))
    by_path: dict[tuple, int] = {}
    for i in range(len(ids)):
        chain = walk(ids, parents, i)
        assert tree.chain(i) == chain
        assert tree.depth[i] == len(chain) - 1
        path = tuple(frames[j] for j in chain)
        assert tree.stack_frames(int(tree.stack[i])) == list(path)
        assert by_path.setdefault(path, int(tree.stack[i])) == tree.stack[i]   # one id per distinct path
    assert len(by_path) == len(tree.stack_parent)
    labels = calltree.stack_labels(tree, ["a", "b", "c", "d"], ";")
    assert labels == [";".join("abcd"[f] for f in tree.stack_frames(s)) for s in range(len(labels))]
    own = calltree.self_times(tree, np.array(durs, np.int64))
    for i in range(len(ids)):
        kids = [j for j in range(len(ids)) if j != i and walk(ids, parents, j)[-2:-1] == [i]]
        assert own[i] == durs[i] - sum(durs[j] for j in kids)
    root = calltree.roots(tree.parent)
    assert [int(r) for r in root] == [walk(ids, parents, i)[0] for i in range(len(ids))]


def test_max_depth_leaves_deeper_calls_without_a_stack():
    n = 10
    tree = calltree.build(np.arange(n), np.arange(n) - 1, np.zeros(n, np.int64), max_depth=4)
    assert tree.stack.tolist() == [0, 1, 2, 3] + [-1] * 6
    assert tree.depth.tolist() == list(range(n))


def test_a_chain_that_loops_ends_and_its_calls_become_roots():
    # 1 -> 2 -> 3 -> 1 loops; 4 hangs under the loop; 5 -> 6 is a sound chain; 7 is its own parent
    ids = np.array([1, 2, 3, 4, 5, 6, 7])
    parents = np.array([3, 1, 2, 3, -1, 5, 7])
    tree = calltree.build(ids, parents, np.arange(7))
    assert tree.parent.tolist()[4:6] == [-1, 4]                 # the sound chain is untouched
    assert tree.depth.tolist()[4:6] == [0, 1]
    for i in (0, 1, 2, 3, 6):                                    # what reached the loop is cut
        assert tree.parent[i] == -1 and tree.depth[i] == 0 and tree.chain(i) == [i]
    assert calltree.roots(np.array([1, 2, 0, -1])).tolist() == [0, 1, 2, 3]


def test_a_deep_chain_is_measured_exactly():
    n = 100_000                                                  # deep recursion in the target
    tree = calltree.build(np.arange(n), np.arange(n) - 1, np.zeros(n, np.int64))
    assert tree.depth[-1] == n - 1 and len(tree.stack_parent) == n
    assert calltree.self_times(tree, np.full(n, 5)).tolist() == [0] * (n - 1) + [5]
