"""Generators, coroutines and exceptions as the shim reports them (exact numbers)."""
from scope import kinds
from scope.collector.correlate import Correlator

from .streams import feed_all, flagged

C, R = kinds.CALL, kinds.RETURN
Y, RS, RA = kinds.F_YIELD, kinds.F_RESUME, kinds.F_RAISED


def run(events, **kw):
    c = Correlator(**kw)
    feed_all(c, flagged(events))
    c.finish()
    return c.to_columns()


def row(cols, code):
    i = cols["code_id"].tolist().index(code)
    return {k: (v[i] if isinstance(v, list) else int(v[i])) for k, v in cols.items()}


def test_generator_is_one_call_with_slices():
    # caller (1) consumes gen (2, id 77): start 10-20, resume 30-45, final 60-70
    cols = run([(0, 1, C, 1, 0, 0, 0),
                (10, 1, C, 2, 0, 77, 0), (20, 1, R, 2, Y, 77, 0),
                (30, 1, C, 2, RS, 77, 0), (45, 1, R, 2, Y, 77, 0),
                (60, 1, C, 2, RS, 77, 0), (70, 1, R, 2, 0, 77, 0),
                (100, 1, R, 1, 0, 0, 0)])
    assert len(cols["call_id"]) == 2
    gen, caller = row(cols, 2), row(cols, 1)
    assert gen["status"] == kinds.COMPLETE and gen["duration_ns"] == 60
    assert gen["self_ns"] == 10 + 15 + 10
    assert gen["parent_id"] == caller["call_id"]
    assert caller["self_ns"] == 100 - 35


def test_generator_resumed_on_another_thread():
    cols = run([(10, 1, C, 2, 0, 5, 0), (20, 1, R, 2, Y, 5, 0),
                (30, 2, C, 2, RS, 5, 0), (35, 2, R, 2, 0, 5, 0)])
    gen = row(cols, 2)
    assert (gen["status"], gen["duration_ns"], gen["self_ns"], gen["tid"]) == (kinds.COMPLETE, 25, 15, 1)


def test_generator_abandoned_then_id_reused():
    cols = run([(10, 1, C, 2, 0, 9, 0), (20, 1, R, 2, Y, 9, 0),
                (30, 1, C, 3, 0, 9, 0), (40, 1, R, 3, 0, 9, 0)])
    assert row(cols, 2)["status"] == kinds.ABANDONED
    assert row(cols, 3)["status"] == kinds.COMPLETE


def test_resume_of_generator_started_before_attach():
    cols = run([(30, 1, C, 2, RS, 4, 0), (40, 1, R, 2, Y, 4, 0),
                (50, 1, C, 2, RS, 4, 0), (55, 1, R, 2, 0, 4, 0)])
    gen = row(cols, 2)
    assert len(cols["call_id"]) == 1
    assert (gen["status"], gen["start_ns"], gen["end_ns"]) == (kinds.START_UNSEEN, -1, 55)


def test_raised_keeps_exception_and_counts_as_completed():
    cols = run([(0, 1, C, 1, 0, 0, 0), (10, 1, C, 2, 0, 0, 0), (20, 1, R, 2, RA, 0, 42),
                (30, 1, R, 1, 0, 0, 0)])
    boom = row(cols, 2)
    assert (boom["status"], boom["exc_id"], boom["duration_ns"]) == (kinds.RAISED, 42, 10)
    assert row(cols, 1)["self_ns"] == 20


def test_suspended_at_stop_is_open():
    cols = run([(10, 1, C, 2, 0, 3, 0), (20, 1, R, 2, Y, 3, 0)])
    assert row(cols, 2)["status"] == kinds.OPEN
