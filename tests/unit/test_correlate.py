"""The correlator against generated streams whose true call trees are known."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scope import kinds
from scope.collector.correlate import Correlator

from .streams import feed, to_records, tree_events

shapes = st.recursive(st.just([]),
                      lambda kids: st.lists(st.tuples(st.integers(1, 4), kids), max_size=4),
                      max_leaves=30)
threads = st.lists(shapes, min_size=1, max_size=3)


def interleave(per_thread, rng_seed):
    """Merge per-thread event lists in time order (as the ring delivers them)."""
    merged = sorted((e for evs in per_thread for e in evs), key=lambda e: (e[0], e[1]))
    return merged


def build(thread_shapes):
    calls, events = [], []
    for tid, shape in enumerate(thread_shapes, start=100):
        _, c, e = tree_events(shape, tid)
        calls.extend(c)
        events.append(e)
    return calls, interleave(events, 0)


def by_key(cols):
    rows = {}
    for i in range(len(cols["call_id"])):
        rows[(int(cols["tid"][i]), int(cols["start_ns"][i]))] = i
    return rows


@settings(max_examples=150, deadline=None)
@given(threads)
def test_well_nested_streams_give_the_exact_tree(thread_shapes):
    truth, events = build(thread_shapes)
    c = Correlator()
    feed(c, to_records(events))
    c.finish()
    cols = c.to_columns()
    assert len(cols["call_id"]) == len(truth)
    rows = by_key(cols)
    ids = {}
    for call in truth:
        i = rows[(call.tid, call.start)]
        ids[id(call)] = int(cols["call_id"][i])
        assert cols["status"][i] == kinds.COMPLETE
        assert int(cols["code_id"][i]) == call.code
        assert int(cols["end_ns"][i]) == call.end
        assert int(cols["duration_ns"][i]) == call.duration
        assert int(cols["self_ns"][i]) == call.self_ns
        assert int(cols["depth"][i]) == call.depth
    for call in truth:
        i = rows[(call.tid, call.start)]
        expected = ids[id(call.parent)] if call.parent else -1
        assert int(cols["parent_id"][i]) == expected


@settings(max_examples=150, deadline=None)
@given(threads, st.data())
def test_attach_mid_run_keeps_every_completed_call(thread_shapes, data):
    """Cut the stream at a random point: returns of calls running then have no entry."""
    truth, events = build(thread_shapes)
    cut = data.draw(st.integers(0, len(events)))
    seen = events[cut:]
    c = Correlator()
    feed(c, to_records(seen))
    c.finish()
    cols = c.to_columns()
    returns = sum(1 for e in seen if e[2] == kinds.RETURN)
    status = cols["status"]
    completed = sum(1 for s in status if s in (kinds.COMPLETE, kinds.START_UNSEEN))
    assert completed == returns
    # calls whose entry was seen are exactly right, and their parents really contain them
    cut_entries = {(e[1], e[0]) for e in events[:cut] if e[2] == kinds.CALL}
    truth_by = {(t.tid, t.start): t for t in truth}
    starts = {int(cols["call_id"][i]): i for i in range(len(status))}
    for i, s in enumerate(status):
        if s == kinds.COMPLETE:
            t = truth_by[(int(cols["tid"][i]), int(cols["start_ns"][i]))]
            assert int(cols["end_ns"][i]) == t.end
            parent = int(cols["parent_id"][i])
            if parent >= 0:
                j = starts[parent]
                assert int(cols["start_ns"][j]) == t.parent.start
            else:
                assert t.parent is None or (t.parent.tid, t.parent.start) in cut_entries


@settings(max_examples=150, deadline=None)
@given(threads, st.data())
def test_lost_events_never_misnest(thread_shapes, data):
    """Drop random events; after mark_loss no call is parented by one that did not contain it."""
    truth, events = build(thread_shapes)
    if not events:
        return
    lose = set(data.draw(st.lists(st.integers(0, len(events) - 1), max_size=5)))
    split = data.draw(st.integers(0, len(events)))
    c = Correlator()
    first = [e for i, e in enumerate(events[:split]) if i not in lose]
    second = [e for i, e in enumerate(events[split:], start=split) if i not in lose]
    feed(c, to_records(first))
    if lose:
        c.mark_loss()     # the collector learns of drops at the next drain
    feed(c, to_records(second))
    c.finish()
    cols = c.to_columns()
    index = {int(cols["call_id"][i]): i for i in range(len(cols["call_id"]))}
    returns = sum(1 for e in first + second if e[2] == kinds.RETURN)
    completed = sum(1 for s in cols["status"] if s in (kinds.COMPLETE, kinds.START_UNSEEN))
    assert completed == returns
    for i in range(len(cols["call_id"])):
        p = int(cols["parent_id"][i])
        if p < 0 or (lose and cols["status"][i] != kinds.COMPLETE):
            continue
        j = index[p]
        start, pstart = int(cols["start_ns"][i]), int(cols["start_ns"][j])
        if start >= 0 and pstart >= 0:
            assert pstart <= start
            pend = int(cols["end_ns"][j])
            if pend >= 0 and int(cols["end_ns"][i]) >= 0:
                assert int(cols["end_ns"][i]) <= pend


def test_orphan_return_with_empty_stack():
    c = Correlator()
    feed(c, to_records([(10, 1, kinds.RETURN, 7), (20, 1, kinds.RETURN, 7)]))
    c.finish()
    cols = c.to_columns()
    assert cols["status"] == [kinds.START_UNSEEN, kinds.START_UNSEEN]
    assert cols["parent_id"].tolist() == [-1, -1]
    assert cols["duration_ns"].tolist() == [-1, -1]
    assert cols["end_ns"].tolist() == [10, 20]


def test_return_matching_deeper_frame_breaks_the_ones_above():
    c = Correlator()
    feed(c, to_records([(10, 1, kinds.CALL, 1), (20, 1, kinds.CALL, 2),
                        (30, 1, kinds.CALL, 3), (40, 1, kinds.RETURN, 1)]))
    c.finish()
    cols = c.to_columns()
    assert cols["status"] == [kinds.COMPLETE, kinds.BROKEN, kinds.BROKEN]
    assert cols["duration_ns"].tolist() == [30, -1, -1]
    assert cols["self_ns"].tolist() == [-1, -1, -1]   # children's durations unknown


def test_open_at_stop_and_interleaved_threads():
    c = Correlator()
    feed(c, to_records([(10, 1, kinds.CALL, 1), (11, 2, kinds.CALL, 5), (12, 2, kinds.CALL, 6),
                        (13, 1, kinds.CALL, 2), (14, 2, kinds.RETURN, 6), (15, 1, kinds.RETURN, 2)]))
    c.finish()
    cols = c.to_columns()
    got = sorted(zip(cols["tid"].tolist(), cols["code_id"].tolist(), cols["status"],
                     cols["parent_id"].tolist(), cols["depth"].tolist()))
    ids = dict(zip(zip(cols["tid"].tolist(), cols["code_id"].tolist()), cols["call_id"].tolist()))
    assert got == sorted([(1, 1, kinds.OPEN, -1, 0), (1, 2, kinds.COMPLETE, ids[(1, 1)], 1),
                          (2, 5, kinds.OPEN, -1, 0), (2, 6, kinds.COMPLETE, ids[(2, 5)], 1)])


def test_adopt_roots_when_entries_are_reliable():
    c = Correlator(adopt_roots=True)
    # main (running at attach) calls g twice after attach, then returns
    feed(c, to_records([(10, 1, kinds.CALL, 2), (20, 1, kinds.RETURN, 2),
                        (30, 1, kinds.CALL, 2), (40, 1, kinds.RETURN, 2), (50, 1, kinds.RETURN, 1)]))
    c.finish()
    cols = c.to_columns()
    main_id = int(cols["call_id"][2])
    assert cols["parent_id"].tolist() == [main_id, main_id, -1]
    assert np.array_equal(cols["status"], [kinds.COMPLETE, kinds.COMPLETE, kinds.START_UNSEEN])


def test_rows_of_some_threads_are_cut_from_the_calls_columns():
    """CallSink.cut (the switch thread's rows, filters): the rows go, and the
    events they stood for go to the writer's events."""
    from scope.collector.callsink import CallSink

    class Writer:
        events: list = []

        def add_events(self, ev):
            self.events.append(ev)
    sink = CallSink(Writer())
    cols = {"tid": np.array([1, 2, 1, 3]), "call_id": np.array([10, 11, 12, 13]),
            "status": [kinds.OPEN, kinds.COMPLETE, kinds.OPEN, kinds.COMPLETE],
            "pid": np.array([5, 5, 5, 5]), "code_id": np.array([7, 8, 7, 9]),
            "start_ns": np.array([100, 110, 120, 130]), "end_ns": np.array([-1, 115, -1, 135]),
            "derived": np.array([1, 3, 0, 3])}
    cut = sink.cut(cols, np.isin(cols["tid"], [1, 9]), {(5 << 32) | 7: 42})
    assert cut["tid"].tolist() == [2, 3] and cut["call_id"].tolist() == [11, 13]
    assert cut["status"] == [kinds.COMPLETE, kinds.COMPLETE]
    (handed,) = sink.writer.events        # row 10 stood for its call; row 12 for nothing
    assert handed["ts"].tolist() == [100] and handed["kind"].tolist() == [kinds.CALL]
    assert handed["line"].tolist() == [42] and handed["tid"].tolist() == [1]
    assert sink.cut(cols, np.isin(cols["tid"], [9]), {}) is cols
