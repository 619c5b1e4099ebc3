"""The span and message pairers hold at most their capacities (collector/bounds.py):
each checked at capacity - 1, capacity and capacity + 1, what is past it counted
by reason, what is kept exact; and the positive control: the same feed with the
capacity out of reach grows the table with what the target sends."""
from __future__ import annotations

import pytest

from scope import kinds
from scope.collector import bounds
from scope.collector.app import (
    MESSAGE_ROWS_FULL,
    MESSAGE_SENDS_EVICTED,
    SPAN_ROWS_FULL,
    SPANS_OPEN_EVICTED,
    MessagePairer,
    SpanPairer,
)
from scope.collector.bounds import capacity, message_cost
from scope.errors import UsageError

PID = 4242


def ev(kind: int, ts: int, ref: int = 0, name: str = "", payload: str | None = None, parent: int = 0) -> dict:
    """An app event as decode_app gives it."""
    return {"ts": ts, "pid": PID, "tid": 7, "kind": kind, "flags": 0, "ref": ref, "parent": parent,
            "task": 0, "name": name, "payload": payload}


def begin(i: int, ts: int | None = None, parent: int = 0) -> dict:
    return ev(kinds.SPAN_BEGIN, i if ts is None else ts, ref=1000 + i, name=f"s{i:04d}",
              payload="x" * 100, parent=parent)


def end(i: int, ts: int) -> dict:
    return ev(kinds.SPAN_END, ts, ref=1000 + i)


# ---- spans open at once: the oldest let go, counted, no row

@pytest.mark.parametrize("n,evicted", [(2, 0), (3, 0), (4, 1)])
def test_open_spans_at_their_bound(n, evicted):
    p = SpanPairer(max_open=3, max_rows=100)
    p.feed([begin(i) for i in range(n)])
    assert len(p.open) == n - evicted <= 3
    assert all("payload" not in b for b in p.open.values())      # a begin is held without its fields
    assert p.drops() == ({SPANS_OPEN_EVICTED: evicted} if evicted else {})
    # the ones kept end exactly; the one let go (the oldest) has no row, its end ignored
    p.feed([end(i, 100 + i) for i in range(n)])
    p.finish()
    assert [(r["name"], r["duration_ns"], r["status"]) for r in p.rows] == \
        [(f"s{i:04d}", 100, kinds.COMPLETE) for i in range(evicted, n)]
    assert p.drops() == ({SPANS_OPEN_EVICTED: evicted} if evicted else {})


def test_spans_left_open_are_written_open_at_the_stop_and_counted_past_the_rows():
    p = SpanPairer(max_open=2, max_rows=100)
    p.feed([begin(i) for i in range(5)])
    p.finish()
    assert [(r["name"], r["status"], r["end_ns"]) for r in p.rows] == \
        [("s0003", kinds.OPEN, None), ("s0004", kinds.OPEN, None)]
    assert p.drops() == {SPANS_OPEN_EVICTED: 3}


def test_a_child_keeps_its_parents_self_time_exact_under_the_bound():
    p = SpanPairer(max_open=2, max_rows=10)
    p.feed([begin(0, ts=0), begin(1, ts=10, parent=1000), end(1, 30), end(0, 100)])
    p.finish()
    rows = {r["name"]: r for r in p.rows}
    assert rows["s0000"]["self_ns"] == 80 and rows["s0001"]["parent_span"] == 1000 and p.drops() == {}


# ---- finished spans: the later ones not kept, counted

@pytest.mark.parametrize("n,kept", [(2, 2), (3, 3), (4, 3)])
def test_span_rows_at_their_bound(n, kept):
    p = SpanPairer(max_open=100, max_rows=3)
    p.feed([begin(i, ts=2 * i) for i in range(n)] + [end(i, 2 * i + 1) for i in range(n)])
    p.finish()
    assert [(r["name"], r["start_ns"], r["duration_ns"]) for r in p.rows] == \
        [(f"s{i:04d}", 2 * i, 1) for i in range(kept)]
    assert p.drops() == ({SPAN_ROWS_FULL: n - kept} if n > kept else {})


def test_spans_still_open_at_the_stop_count_against_the_rows():
    p = SpanPairer(max_open=100, max_rows=3)
    p.feed([begin(i) for i in range(5)] + [end(0, 10), end(1, 11)])
    p.finish()
    assert [r["status"] for r in p.rows] == [kinds.COMPLETE, kinds.COMPLETE, kinds.OPEN]
    assert p.drops() == {SPAN_ROWS_FULL: 2}


def test_positive_control_spans_without_the_bound_grow_with_the_target():
    p = SpanPairer(max_open=1 << 40, max_rows=1 << 40)
    p.feed([begin(i) for i in range(5000)])
    assert len(p.open) == 5000 and p.drops() == {}
    p.finish()
    assert len(p.rows) == 5000


# ---- messages: sends held by their bytes, edges by theirs

def send(i: int, ts: int) -> dict:
    return ev(kinds.SEND, ts, name="jobs", payload=f"{i:06d}")


def recv(i: int, ts: int) -> dict:
    return ev(kinds.RECV, ts, name="jobs", payload=f"{i:06d}")


COST = message_cost("jobs", "000000")      # every message here costs the same


@pytest.mark.parametrize("n,evicted", [(2, 0), (3, 0), (4, 1)])
def test_sends_waiting_at_their_bound(n, evicted):
    m = MessagePairer(max_send_bytes=3 * COST, max_row_bytes=1 << 20)
    m.feed([send(i, i) for i in range(n)])
    assert len(m.waiting) == n - evicted and m.send_bytes == (n - evicted) * COST <= m.max_send_bytes
    assert m.drops() == ({MESSAGE_SENDS_EVICTED: evicted} if evicted else {})
    # the oldest was let go: its receive has no sender; the others pair exactly
    m.feed([recv(i, 100 + i) for i in range(n)])
    m.finish()
    assert [(r["msg_id"], r["latency_ns"]) for r in m.rows] == \
        [(f"{i:06d}", None if i < evicted else 100) for i in range(n)]
    assert [r["send_ns"] for r in m.rows[:evicted]] == [None] * evicted


def test_received_sends_are_forgotten_before_waiting_ones():
    m = MessagePairer(max_send_bytes=2 * COST, max_row_bytes=1 << 20)
    m.feed([send(0, 0), send(1, 1), recv(0, 5), send(2, 6)])
    # 0 was received: forgotten first (its edge is written), nothing waiting let go
    assert list(m.received) == [] and list(m.waiting) == [("jobs", "000001"), ("jobs", "000002")]
    assert m.drops() == {}
    m.finish()
    assert sorted((r["msg_id"], r["latency_ns"]) for r in m.rows) == \
        [("000000", 5), ("000001", None), ("000002", None)]


def test_a_send_of_the_same_id_again_is_held_once():
    m = MessagePairer(max_send_bytes=COST, max_row_bytes=1 << 20)
    m.feed([send(0, 0), send(0, 1), send(0, 2), recv(0, 10)])
    assert m.send_bytes == COST and m.drops() == {}
    assert [(r["send_ns"], r["latency_ns"]) for r in m.rows] == [(2, 8)]


@pytest.mark.parametrize("n,kept", [(2, 2), (3, 3), (4, 3)])
def test_message_edges_at_their_bound(n, kept):
    m = MessagePairer(max_send_bytes=1 << 20, max_row_bytes=3 * COST)
    m.feed([send(i, 2 * i) for i in range(n)] + [recv(i, 2 * i + 1) for i in range(n)])
    m.finish()
    assert [(r["msg_id"], r["latency_ns"]) for r in m.rows] == [(f"{i:06d}", 1) for i in range(kept)]
    assert m.row_bytes == kept * COST <= m.max_row_bytes
    assert m.drops() == ({MESSAGE_ROWS_FULL: n - kept} if n > kept else {})


def test_a_long_message_id_costs_its_bytes():
    big = "y" * 16384
    m = MessagePairer(max_send_bytes=message_cost("jobs", big) + COST - 1, max_row_bytes=1 << 30)
    m.feed([send(0, 0), ev(kinds.SEND, 1, name="jobs", payload=big)])
    assert list(m.waiting) == [("jobs", big)] and m.drops() == {MESSAGE_SENDS_EVICTED: 1}


def test_positive_control_messages_without_the_bound_grow_with_the_target():
    m = MessagePairer(max_send_bytes=1 << 40, max_row_bytes=1 << 40)
    m.feed([send(i, i) for i in range(5000)])
    assert len(m.waiting) == 5000 and m.drops() == {}
    m.finish()
    assert len(m.rows) == 5000


# ---- the capacities through the environment

@pytest.mark.parametrize("name", ["SPANS_OPEN_MAX", "SPAN_ROWS_MAX", "MESSAGE_SENDS_MAX_BYTES",
                                  "MESSAGE_ROWS_MAX_BYTES"])
def test_each_capacity_is_set_through_its_environment_variable(name, monkeypatch):
    env = bounds.ENV[name]
    monkeypatch.setenv(env, "7")
    assert capacity(name) == 7
    monkeypatch.setenv(env, "-1")
    with pytest.raises(UsageError, match=env):
        capacity(name)
    monkeypatch.delenv(env)
    assert capacity(name) == getattr(bounds, name)


def test_the_pairers_take_their_capacities_from_the_environment(monkeypatch):
    monkeypatch.setenv("SCOPE_SPANS_OPEN_MAX", "2")
    monkeypatch.setenv("SCOPE_SPAN_ROWS_MAX", "3")
    monkeypatch.setenv("SCOPE_MESSAGE_SENDS_MAX_BYTES", "4")
    monkeypatch.setenv("SCOPE_MESSAGE_ROWS_MAX_BYTES", "5")
    p, m = SpanPairer(), MessagePairer()
    assert (p.max_open, p.max_rows, m.max_send_bytes, m.max_row_bytes) == (2, 3, 4, 5)
