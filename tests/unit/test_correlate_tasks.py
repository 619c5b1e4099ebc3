"""asyncio: each task's calls carry the task (its root coroutine's generator id),
across awaits, while the event loop's own frames carry none."""
import numpy as np
import pytest

from scope import kinds
from scope.collector.correlate import Correlator, PyCorrelator

C, R, CO, RES, Y = kinds.CALL, kinds.RETURN, kinds.F_CORO, kinds.F_RESUME, kinds.F_YIELD
LOOP, TASK_A, INNER, LEAF, TASK_B = 1, 2, 3, 4, 5

# (kind, code, flags, gen): the loop runs A until it awaits, then B, then A again
STREAM = [
    (C, LOOP, 0, 0),
    (C, TASK_A, CO, 70), (C, INNER, CO, 80), (C, LEAF, 0, 0), (R, LEAF, 0, 0),
    (R, INNER, CO | Y, 80), (R, TASK_A, CO | Y, 70),          # A awaits
    (C, TASK_B, CO, 90), (C, LEAF, 0, 0), (R, LEAF, 0, 0), (R, TASK_B, CO, 90),
    (C, TASK_A, CO | RES, 70), (C, INNER, CO | RES, 80),      # A resumes where it was
    (R, INNER, CO, 80), (R, TASK_A, CO, 70),
    (R, LOOP, 0, 0),
]


@pytest.mark.parametrize("impl", [PyCorrelator, Correlator])
def test_each_task_is_its_own_logical_stack(impl):
    n = len(STREAM)
    c = impl()
    c.feed(np.arange(n, dtype=np.int64) * 100, np.ones(n, np.int64), np.ones(n, np.int64),
           np.array([e[0] for e in STREAM]), np.array([e[1] for e in STREAM]), np.zeros(n, np.int64),
           np.array([e[2] for e in STREAM]), np.array([e[3] for e in STREAM]))
    c.finish()
    cols = c.to_columns()
    rows = sorted(zip(cols["code_id"].tolist(), cols["task"].tolist(), cols["status"],
                      cols["parent_id"].tolist(), cols["call_id"].tolist()))
    by_code = {}
    for code, task, status, parent, call in rows:
        by_code.setdefault(code, []).append((task, status, parent, call))
    assert by_code[LOOP] == [(0, "complete", -1, by_code[LOOP][0][3])]
    assert [t for t, *_ in by_code[TASK_A]] == [70] and by_code[TASK_A][0][1] == "complete"
    assert [t for t, *_ in by_code[INNER]] == [70]          # one call across the await
    assert [t for t, *_ in by_code[TASK_B]] == [90]
    assert sorted(t for t, *_ in by_code[LEAF]) == [70, 90]  # a sync call inherits its task


@pytest.mark.parametrize("impl", [PyCorrelator, Correlator])
def test_a_loss_marker_breaks_nesting_where_it_sits(impl):
    """outer() calls a(); records are lost (a's return, b's call); then b returns and
    c runs: nothing after the marker may nest under the frames open before it."""
    OUTER, A, B, CC = 1, 2, 3, 4
    stream = [(C, OUTER, 1), (C, A, 1), (kinds.LOSS, 0, 1), (R, B, 1), (C, CC, 1), (R, CC, 1),
              (C, A, 2), (kinds.LOSS, 0, 9), (R, A, 2)]      # a loss in another process: no effect
    n = len(stream)
    c = impl()
    c.feed(np.arange(n, dtype=np.int64) * 100, np.array([e[2] for e in stream]), np.ones(n, np.int64),
           np.array([e[0] for e in stream]), np.array([e[1] for e in stream]), np.zeros(n, np.int64),
           np.zeros(n, np.int64), np.zeros(n, np.int64))
    c.finish()
    cols = c.to_columns()
    rows = {(p, code): (status, parent) for p, code, status, parent in zip(
        cols["pid"].tolist(), cols["code_id"].tolist(), cols["status"], cols["parent_id"].tolist())}
    assert rows[(1, OUTER)][0] == "broken" and rows[(1, A)][0] == "broken"
    assert rows[(1, B)] == ("start_unseen", -1) and rows[(1, CC)] == ("complete", -1)
    assert rows[(2, A)] == ("complete", -1)
