"""A recording whose calls rows stand for the plain call and return events
(schema 2, store/derive.py) reads back the same events as one that stores every
event: same rows, same order, every column — whole, by window, by kind, by code."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scope import kinds
from scope.store.reader import open_recording

from .recording import as_ring_records, write_calls_recording
from .streams import flagged

COLS = ["ts", "pid", "tid", "kind", "code_id", "line", "arg", "flags", "ref", "parent", "task", "payload"]
CODE = {c: (f"f{c}", "/app/x.py") for c in range(1, 5)}

events = st.lists(st.tuples(
    st.sampled_from([kinds.CALL, kinds.RETURN, kinds.CALL, kinds.RETURN, kinds.GC_START, kinds.LOSS]),
    st.integers(1, 4),                                   # code
    st.integers(1, 3),                                   # tid
    st.sampled_from([0, 0, 0, 0, kinds.F_RESUME, kinds.F_YIELD, kinds.F_RAISED, kinds.F_CORO,
                     kinds.F_CORO | kinds.F_RESUME, kinds.F_CORO | kinds.F_YIELD]),
    st.sampled_from([0, 0, 0, 7, 9]),                    # generator id
    st.sampled_from([0, 0, 0, 5, 2**31 - 1]),           # line (a raised return's exception id)
), min_size=1, max_size=150)


def both(tmp_path, records):
    """(every event stored, plain calls and returns derived) from one stream."""
    ring = as_ring_records(records)
    stored = ring.copy()
    stored["flags"] &= np.uint16(~kinds.F_DERIVED & 0xFFFF)
    a = open_recording(write_calls_recording(tmp_path / "stored", stored, CODE, derive=False))
    b = open_recording(write_calls_recording(tmp_path / "derived", records, CODE, derive=True))
    return a, b, int(((ring["flags"] & kinds.F_DERIVED) != 0).sum())


def same(a, b, **how):
    want, got = a.events(**how), b.events(**how)
    if how.get("kinds"):     # rows of other kinds are the caller's to filter (Recording.events)
        want, got = (t.filter(pc.is_in(pc.cast(t["kind"], "string"), value_set=pa.array(how["kinds"])))
                     for t in (want, got))
    assert got.num_rows == want.num_rows, how
    for c in (how.get("columns") or COLS):
        assert got[c].to_pylist() == want[c].to_pylist(), (c, how)


def check(tmp_path, records):
    a, b, n_derived = both(tmp_path, records)
    lo, hi = int(records["ts"].min()), int(records["ts"].max())
    same(a, b)
    for w_lo, w_hi in ((lo, hi), (lo + 30, hi - 30), (lo, lo + 55), (hi - 40, hi), (hi + 1, hi + 100)):
        same(a, b, lo=w_lo, hi=w_hi)
    for k in (("call",), ("return",), ("call", "return"), ("gc_start",)):
        same(a, b, kinds=k)
    same(a, b, code_ids={2})
    same(a, b, lo=lo + 20, hi=hi, code_ids={1, 3}, columns=["ts", "kind", "code_id"])
    # the derived recording stores only the other events; the catalog accounts for all
    stored = sum(e["rows"] for e in json.loads((b.folder / "catalog.json").read_text())["events"])
    cat = json.loads((b.folder / "catalog.json").read_text())
    assert stored == len(records) - n_derived
    assert sum(e["events"] for e in cat["calls"]) == n_derived
    assert b.events(derive=False).num_rows == stored


@settings(max_examples=60, deadline=None)
@given(events)
def test_derived_events_equal_stored_events(tmp_path_factory, evs):
    recs = flagged([(1_000_000 + 10 * i, tid, kind, code, fl, gen, line)
                    for i, (kind, code, tid, fl, gen, line) in enumerate(evs)])
    check(tmp_path_factory.mktemp("r"), recs)


def test_ties_on_one_nanosecond_come_in_the_order_they_happened(tmp_path):
    """Returns before calls at one ts, returns innermost first, calls outermost
    first; across threads, each thread's own order."""
    t = 1_000_000
    recs = flagged([
        (t, 1, kinds.CALL, 1, 0, 0, 0), (t, 1, kinds.CALL, 2, 0, 0, 0),        # a, and b in it, at once
        (t, 2, kinds.CALL, 3, 0, 0, 0),
        (t + 5, 1, kinds.RETURN, 2, 0, 0, 0), (t + 5, 1, kinds.RETURN, 1, 0, 0, 0),   # both end at once
        (t + 5, 1, kinds.CALL, 4, 0, 0, 0),                                      # and c starts
        (t + 5, 2, kinds.RETURN, 3, 0, 0, 0), (t + 5, 2, kinds.CALL, 3, 0, 0, 0),
        (t + 9, 1, kinds.RETURN, 4, 0, 0, 0), (t + 9, 2, kinds.RETURN, 3, 0, 0, 0),
    ])
    a, b, n = both(tmp_path, recs)
    assert n == len(recs)            # every event plain: all derived
    got = b.events()
    order = list(zip(got["tid"].to_pylist(), pc.cast(got["kind"], "string").to_pylist(), got["code_id"].to_pylist()))
    per_thread = {tid: [(k, c) for t2, k, c in order if t2 == tid] for tid in (1, 2)}
    assert per_thread[1] == [("call", 1), ("call", 2), ("return", 2), ("return", 1), ("call", 4), ("return", 4)]
    assert per_thread[2] == [("call", 3), ("return", 3), ("call", 3), ("return", 3)]
    assert got["ts"].to_pylist() == sorted(got["ts"].to_pylist())


def test_a_long_stream_in_several_segments(tmp_path):
    """Many segments of events and calls (a call open across rolls): the same."""
    rng = np.random.default_rng(7)
    evs, depth, t = [], [], 1_000_000
    for _ in range(6000):
        t += int(rng.integers(1, 50))
        if depth and (len(depth) > 6 or rng.random() < 0.5):
            evs.append((t, 1, kinds.RETURN, depth.pop(), 0, 0, 0))
        elif rng.random() < 0.05:
            evs.append((t, 1, kinds.GC_START, 0, 0, 0, 0))
        else:
            depth.append(int(rng.integers(1, 5)))
            evs.append((t, 1, kinds.CALL, depth[-1], 0, 0, 0))
    recs = flagged(evs)
    ring = as_ring_records(recs)
    stored = ring.copy()
    stored["flags"] &= np.uint16(~kinds.F_DERIVED & 0xFFFF)
    a = open_recording(write_calls_recording(tmp_path / "a", stored, CODE, derive=False, segment_rows=500))
    b = open_recording(write_calls_recording(tmp_path / "b", recs, CODE, derive=True, segment_rows=500))
    same(a, b)
    same(a, b, lo=int(recs["ts"][1000]), hi=int(recs["ts"][1200]))
    same(a, b, kinds=("return",), lo=int(recs["ts"][3000]))


@pytest.mark.parametrize("version", [1])
def test_a_recording_of_schema_1_derives_nothing(tmp_path, version):
    recs = flagged([(1_000_000, 1, kinds.CALL, 1, 0, 0, 0), (1_000_010, 1, kinds.RETURN, 1, 0, 0, 0)])
    folder = write_calls_recording(tmp_path / "r", recs, CODE, derive=True)
    meta = json.loads((folder / "session.json").read_text())
    meta["schema_version"] = version
    (folder / "session.json").write_text(json.dumps(meta))
    assert open_recording(folder).events().num_rows == 0      # its writer stored every event it kept


def test_the_sql_events_view_holds_the_derived_events(tmp_path):
    """--sql's `events` (DuckDB over the files) = Recording.events, derived included."""
    from scope.store.sql import run_sql
    t = 1_000_000
    recs = flagged([(t, 1, kinds.CALL, 1, 0, 0, 0), (t + 10, 1, kinds.CALL, 2, 0, 0, 0),
                    (t + 20, 1, kinds.GC_START, 0, 0, 0, 0), (t + 30, 1, kinds.RETURN, 2, kinds.F_RAISED, 0, 3),
                    (t + 40, 2, kinds.RETURN, 3, 0, 0, 0), (t + 50, 1, kinds.RETURN, 1, 0, 0, 0),
                    (t + 60, 1, kinds.CALL, 4, 0, 0, 0)])
    a, b, n = both(tmp_path, recs)
    assert n == 5        # the raised return and the gc stay stored
    cols = ["ts", "pid", "tid", "kind", "code_id", "line", "arg", "flags", "ref", "parent", "task", "payload"]
    for rec in (a, b):
        got = run_sql([rec], f"select {', '.join(cols)} from events order by ts")
        want = rec.events()
        for c in cols:
            w = pc.cast(want[c], "string") if c == "kind" else want[c]
            assert got[c].to_pylist() == w.to_pylist(), c
