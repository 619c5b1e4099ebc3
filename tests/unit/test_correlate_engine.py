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
                     kinds.F_CORO | kinds.F_RESUME, kinds.F_CORO | kinds.F_YIELD]),
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
