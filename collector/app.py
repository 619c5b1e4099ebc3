"""Application events from the shim: decode the variable-size records, pair spans.

Pure functions. Span begin/end records are matched by span id (not by stack),
so they stay right across threads and asyncio tasks; the parent is the span
that was current in the same thread or task when it began.

The target decides how many spans it begins and never ends, and how many
messages it sends that nobody receives: what the pairers hold is bounded
(collector/bounds.py), what is past a bound counted by reason (``drops``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scope import kinds

from ..probes.layout import record_dtype
from .bounds import capacity, message_cost

APP = record_dtype("scope_app")
HEADER_SIZE = APP.fields["data"][1]
HEADER = np.dtype({name: APP.fields[name] for name in APP.names if name != "data"})

SPANS_OPEN_EVICTED = "spans_open_evicted"        # begun, not ended, let go past SPANS_OPEN_MAX: no row
SPAN_ROWS_FULL = "span_rows_full"                # finished spans given no row (past SPAN_ROWS_MAX)
MESSAGE_SENDS_EVICTED = "message_sends_evicted"  # sends not received yet, let go past the bound: no row
MESSAGE_ROWS_FULL = "message_rows_full"          # edges not kept (past MESSAGE_ROWS_MAX_BYTES)
_BEGIN_KEYS = ("ts", "pid", "tid", "ref", "parent", "task", "name")   # a begin as held: no payload
_SEND_KEYS = ("ts", "pid", "tid", "name", "payload")


def _signed(value) -> int:
    """The probes pass 64-bit registers; -1 and friends arrive as unsigned."""
    v = int(value)
    return v - (1 << 64) if v >= 1 << 63 else v


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def decode_app(records: list[bytes]) -> list[dict]:
    """One dict per record: ts, pid, tid, kind, flags, ref, parent, task, name, payload."""
    out = []
    for rec in records:
        h = np.frombuffer(rec[:HEADER_SIZE], HEADER, count=1)[0]
        n = int(h["len"])
        out.append({
            "ts": int(h["ts"]), "pid": int(h["pid"]), "tid": int(h["tid"]), "kind": int(h["kind"]),
            "flags": int(h["flags"]), "ref": _signed(h["ref"]), "parent": _signed(h["parent"]),
            "task": _signed(h["task"]), "name": _text(bytes(h["name"]).split(b"\0", 1)[0]),
            "payload": _text(rec[HEADER_SIZE:HEADER_SIZE + n]) if n else None,
        })
    return out


@dataclass(frozen=True)
class TracingChange:
    """A TRACING app event: the shim's call tracing changed state (or its
    switch thread said who it is). ``ref`` holds the state, ``parent`` the
    switch thread's id (scope_events.h: the fields are reused by kind)."""
    pid: int
    ts: int
    state: int                 # kinds.TRACING_*
    switch_tid: int            # 0: not said

    @classmethod
    def of(cls, r: dict) -> TracingChange:
        return cls(r["pid"], r["ts"], r["ref"], r["parent"])


@dataclass(frozen=True)
class RingAnnouncement:
    """A RING app event: a program's shim made its ring. ``ref`` holds the
    ring's descriptor in the target, ``parent`` its size, ``task`` the
    program's token (collector/images.py)."""
    pid: int
    fd: int                    # -1: a forked child's check, no ring
    size: int
    program: int

    @classmethod
    def of(cls, r: dict) -> RingAnnouncement:
        return cls(r["pid"], r["ref"], r["parent"], r["task"])


class SpanPairer:
    """Match span begins and ends by id; emit one row per span.

    At most ``max_open`` spans are held open: past it the oldest is let go
    (counted: ``spans_open_evicted``; no row, since whether and when it ended
    is unknown; its end, if it comes, is ignored as one whose begin was not
    seen). At most ``max_rows`` rows are kept: later ones are counted
    (``span_rows_full``). The rows kept are exact.
    """

    def __init__(self, max_open: int | None = None, max_rows: int | None = None) -> None:
        self.max_open = capacity("SPANS_OPEN_MAX") if max_open is None else max_open
        self.max_rows = capacity("SPAN_ROWS_MAX") if max_rows is None else max_rows
        self.open: dict[tuple[int, int], dict] = {}   # (pid, span id) -> begin, oldest first
        self.rows: list[dict] = []
        self.dropped = {SPANS_OPEN_EVICTED: 0, SPAN_ROWS_FULL: 0}

    def feed(self, events: list[dict]) -> None:
        for ev in sorted(events, key=lambda e: e["ts"]):
            if ev["kind"] == kinds.SPAN_BEGIN:
                key = (ev["pid"], ev["ref"])
                self.open.pop(key, None)       # an id used again: the newest, at the young end
                self.open[key] = {**{k: ev[k] for k in _BEGIN_KEYS}, "child_ns": 0}
                if len(self.open) > self.max_open:
                    del self.open[next(iter(self.open))]
                    self.dropped[SPANS_OPEN_EVICTED] += 1
            elif ev["kind"] == kinds.SPAN_END:
                begin = self.open.pop((ev["pid"], ev["ref"]), None)
                if begin is None:
                    continue   # began before the recording: its end alone says little
                duration = ev["ts"] - begin["ts"]
                parent = self.open.get((ev["pid"], begin["parent"]))
                if parent is not None:
                    parent["child_ns"] += duration
                self._keep(self._row(begin, ev["ts"], duration,
                                     kinds.RAISED if ev["flags"] & kinds.F_RAISED else kinds.COMPLETE))

    def finish(self) -> None:
        for begin in self.open.values():
            self._keep(self._row(begin, None, None, kinds.OPEN))
        self.open.clear()

    def drops(self) -> dict[str, int]:
        """What the bounds cost (only reasons that occurred: session.json's drops)."""
        return {reason: n for reason, n in self.dropped.items() if n}

    def _keep(self, row: dict) -> None:
        if len(self.rows) < self.max_rows:
            self.rows.append(row)
        else:
            self.dropped[SPAN_ROWS_FULL] += 1

    @staticmethod
    def _row(begin: dict, end, duration, status) -> dict:
        return {"span_id": begin["ref"], "parent_span": begin["parent"] or None, "pid": begin["pid"],
                "tid": begin["tid"], "name": begin["name"], "task": begin["task"] or None,
                "start_ns": begin["ts"], "end_ns": end, "duration_ns": duration,
                "self_ns": duration - begin["child_ns"] if duration is not None else None,
                "status": status}


class MessagePairer:
    """Match sends and receives on (channel, message id) into edges.

    A receive pairs with the latest unmatched-or-matched send of the same id
    before it (a message received twice makes two edges); a send nobody
    received stays an edge without a receiver; a receive without a send is
    kept with no sender (the send happened before the recording).

    The sends held cost at most ``max_send_bytes`` (``message_cost``): past
    it, a send already received is forgotten first, oldest first (its edge is
    written; a second receive of it would show no sender), then the oldest
    send waiting for its receive (counted: ``message_sends_evicted``; no row,
    as it may yet be received: that receive shows no sender). The edges kept
    cost at most ``max_row_bytes``; later ones are counted (``message_rows_full``).
    """

    def __init__(self, max_send_bytes: int | None = None, max_row_bytes: int | None = None) -> None:
        self.max_send_bytes = capacity("MESSAGE_SENDS_MAX_BYTES") if max_send_bytes is None else max_send_bytes
        self.max_row_bytes = capacity("MESSAGE_ROWS_MAX_BYTES") if max_row_bytes is None else max_row_bytes
        self.waiting: dict[tuple[str, str], dict] = {}    # not received yet, oldest first
        self.received: dict[tuple[str, str], dict] = {}   # received: a second receive pairs too
        self.send_bytes = 0
        self.rows: list[dict] = []
        self.row_bytes = 0
        self.dropped = {MESSAGE_SENDS_EVICTED: 0, MESSAGE_ROWS_FULL: 0}

    def feed(self, events: list[dict]) -> None:
        for ev in sorted(events, key=lambda e: e["ts"]):
            key = (ev["name"], ev["payload"] or "")
            if ev["kind"] == kinds.SEND:
                for held in (self.waiting, self.received):     # the latest send of an id wins
                    if held.pop(key, None) is not None:
                        self.send_bytes -= message_cost(*key)
                self.waiting[key] = {k: ev[k] for k in _SEND_KEYS}
                self.send_bytes += message_cost(*key)
                self._trim()
            elif ev["kind"] == kinds.RECV:
                send = self.waiting.pop(key, None)
                if send is not None:
                    self.received[key] = send
                else:
                    send = self.received.get(key)
                self._keep(self._row(send, ev, ev["name"], ev["payload"]))

    def _trim(self) -> None:
        while self.send_bytes > self.max_send_bytes:
            held = self.received or self.waiting
            key = next(iter(held))
            del held[key]
            self.send_bytes -= message_cost(*key)
            if held is self.waiting:
                self.dropped[MESSAGE_SENDS_EVICTED] += 1

    def finish(self) -> None:
        for send in self.waiting.values():
            self._keep(self._row(send, None, send["name"], send["payload"]))
        self.waiting.clear()
        self.received.clear()
        self.send_bytes = 0

    def drops(self) -> dict[str, int]:
        """What the bounds cost (only reasons that occurred: session.json's drops)."""
        return {reason: n for reason, n in self.dropped.items() if n}

    def _keep(self, row: dict) -> None:
        cost = message_cost(row["channel"], row["msg_id"])
        if self.row_bytes + cost <= self.max_row_bytes:
            self.rows.append(row)
            self.row_bytes += cost
        else:
            self.dropped[MESSAGE_ROWS_FULL] += 1

    @staticmethod
    def _row(send, recv, channel, msg) -> dict:
        return {"channel": channel, "msg_id": msg or "",
                "send_ns": send["ts"] if send else None, "send_pid": send["pid"] if send else None,
                "send_tid": send["tid"] if send else None,
                "recv_ns": recv["ts"] if recv else None, "recv_pid": recv["pid"] if recv else None,
                "recv_tid": recv["tid"] if recv else None,
                "latency_ns": recv["ts"] - send["ts"] if send and recv else None}
