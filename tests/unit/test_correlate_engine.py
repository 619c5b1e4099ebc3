"""The C engine and the Python reference correlator give identical calls on any stream."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scope import kinds
from scope.collector.correlate import Correlator, PyCorrelator

pytest.importorskip("scope.collector._correlate")

events = st.lists(st.tuples(
    st.sampled_from([kinds.CALL, kinds.RETURN, kinds.CALL, kinds.RETURN, kinds.GC_START, kinds.LOSS]),
    st.integers(1, 4),                                   # code
    st.integers(1, 3),                                   # tid
    st.sampled_from([0, 0, 0, kinds.F_RESUME, kinds.F_YIELD, kinds.F_RAISED, kinds.F_CORO,
                     kinds.F_CORO | kinds.F_RESUME, kinds.F_CORO | kinds.F_YIELD, kinds.F_DERIVED,
                     kinds.F_DERIVED]),
    st.sampled_from([0, 0, 7, 9]),                       # generator id
    st.integers(-5, 2**32 - 1),                          # line (also the exception id)
), max_size=120)


def as_arrays(evs, t0):
    n = len(evs)
    cols = {k: np.zeros(n, np.int64) for k in ("ts", "pid", "tid", "kind", "code", "line", "flags", "arg")}
    for i, (kind, code, tid, fl, gen, line) in enumerate(evs):
        cols["ts"][i], cols["pid"][i], cols["tid"][i] = t0 + 10 * i, 1, tid
        cols["kind"][i], cols["code"][i], cols["line"][i] = kind, code, line
        cols["flags"][i], cols["arg"][i] = fl, gen
    return cols


@settings(max_examples=400, deadline=None)
@given(events, st.lists(st.integers(0, 120), max_size=3), st.booleans(), st.booleans())
def test_engine_matches_reference(evs, cuts, adopt, loss):
    c, ref = Correlator(adopt_roots=adopt), PyCorrelator(adopt_roots=adopt)
    assert c._engine is not None
    bounds = sorted({0, len(evs), *[x for x in cuts if x <= len(evs)]})
    t0 = 1000
    for a, b in zip(bounds, bounds[1:]):
        cols = as_arrays(evs[a:b], t0 + 10 * a)
        for corr in (c, ref):
            corr.feed(cols["ts"], cols["pid"], cols["tid"], cols["kind"], cols["code"],
                      cols["line"], cols["flags"], cols["arg"])
            if loss:
                corr.mark_loss()
    c.finish()
    ref.finish()
    got, want = c.to_columns(), ref.to_columns()
    assert got["status"] == want["status"]
    for name in want:
        if name != "status":
            assert np.array_equal(got[name], want[name]), name
    assert c.first_line == ref.first_line
    assert len(c) == len(ref)


def _concat(parts):
    out = {}
    for name in parts[0]:
        vals = [p[name] for p in parts]
        out[name] = sum((list(v) for v in vals), []) if name == "status" else np.concatenate(vals)
    return out


@settings(max_examples=300, deadline=None)
@given(events, st.lists(st.integers(0, 120), max_size=4), st.booleans())
def test_draining_hands_out_every_row_once_unchanged(evs, cuts, adopt):
    """Calls drained while events stream in, plus the rest at the end, are exactly the
    calls of an engine never drained (the same ids, parents, times and statuses) —
    except that a drained top-level call can no longer be adopted: its parent stays null."""
    bounds = sorted({0, len(evs), *[x for x in cuts if x <= len(evs)]})
    for impl in (Correlator, PyCorrelator):
        whole, drained = impl(adopt_roots=adopt), impl(adopt_roots=adopt)
        parts = []
        for a, b in zip(bounds, bounds[1:]):
            cols = as_arrays(evs[a:b], 1000 + 10 * a)
            for corr in (whole, drained):
                corr.feed(cols["ts"], cols["pid"], cols["tid"], cols["kind"], cols["code"],
                          cols["line"], cols["flags"], cols["arg"])
            parts.append(drained.drain())
        for corr in (whole, drained):
            corr.finish()
        parts.append(drained.drain(everything=True))
        assert len(drained) == 0 and drained.issued == whole.issued
        got, want = _concat(parts), whole.to_columns()
        order = np.argsort(got["call_id"])
        assert np.array_equal(got["call_id"][order], want["call_id"])
        for name in want:
            values = [got[name][i] for i in order] if name == "status" else got[name][order]
            if name == "parent_id" and adopt:
                assert all(g in (w, -1) for g, w in zip(values, want[name])), impl.__name__
                continue
            assert list(values) == list(want[name]), (impl.__name__, name)


@pytest.mark.parametrize("make", [Correlator, PyCorrelator], ids=["c", "python"])
def test_first_lines_are_per_process(make):
    """Each process's shim numbers its code objects from the same base, so one
    code id names different functions in two processes: their first lines are
    kept apart (they were keyed by the code id alone), and the code table
    gives each process its own."""
    from scope.collector.correlate import line_key
    from scope.collector.tables import code_table
    code = 0xE0000005
    c = make()
    ts, pid = np.array([1, 2, 3, 4], np.int64), np.array([10, 10, 20, 20], np.int64)
    c.feed(ts, pid, np.array([10, 10, 20, 20], np.int64), np.array([kinds.CALL, kinds.RETURN] * 2, np.int64),
           np.full(4, code, np.int64), np.array([7, 8, 30, 31], np.int64))
    c.finish()
    assert c.first_line[line_key(10, code)] == 7 and c.first_line[line_key(20, code)] == 30
    rows = [{"code_id": code, "pid": p, "kind": "code", "file": f"/{p}.py", "function": "f", "qualname": "f",
             "truncated": False} for p in (10, 20)]
    assert code_table(rows, {}, [], c.first_line)["first_line"].to_pylist() == [7, 30]
