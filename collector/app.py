"""Application events from the shim: decode the variable-size records, pair spans.

Pure functions. Span begin/end records are matched by span id (not by stack),
so they stay right across threads and asyncio tasks; the parent is the span
that was current in the same thread or task when it began.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scope import kinds

from ..probes.layout import record_dtype

APP = record_dtype("scope_app")
HEADER_SIZE = APP.fields["data"][1]
HEADER = np.dtype({name: APP.fields[name] for name in APP.names if name != "data"})


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
    """Match span begins and ends by id; emit one row per span."""

    def __init__(self) -> None:
        self.open: dict[tuple[int, int], dict] = {}   # (pid, span id) -> begin
        self.rows: list[dict] = []

    def feed(self, events: list[dict]) -> None:
        for ev in sorted(events, key=lambda e: e["ts"]):
            if ev["kind"] == kinds.SPAN_BEGIN:
                self.open[(ev["pid"], ev["ref"])] = dict(ev, child_ns=0)
            elif ev["kind"] == kinds.SPAN_END:
                begin = self.open.pop((ev["pid"], ev["ref"]), None)
                if begin is None:
                    continue   # began before the recording: its end alone says little
                duration = ev["ts"] - begin["ts"]
                parent = self.open.get((ev["pid"], begin["parent"]))
                if parent is not None:
                    parent["child_ns"] += duration
                self.rows.append(self._row(begin, ev["ts"], duration,
                                           kinds.RAISED if ev["flags"] & kinds.F_RAISED else kinds.COMPLETE))

    def finish(self) -> None:
        for begin in self.open.values():
            self.rows.append(self._row(begin, None, None, kinds.OPEN))
        self.open.clear()

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
    """

    def __init__(self) -> None:
        self.sends: dict[tuple[str, str], dict] = {}
        self.rows: list[dict] = []
        self._received: set[int] = set()

    def feed(self, events: list[dict]) -> None:
        for ev in sorted(events, key=lambda e: e["ts"]):
            if ev["kind"] == kinds.SEND:
                self.sends[(ev["name"], ev["payload"] or "")] = ev
            elif ev["kind"] == kinds.RECV:
                send = self.sends.get((ev["name"], ev["payload"] or ""))
                if send is not None:
                    self._received.add(id(send))
                self.rows.append(self._row(send, ev, ev["name"], ev["payload"]))

    def finish(self) -> None:
        for send in self.sends.values():
            if id(send) not in self._received:
                self.rows.append(self._row(send, None, send["name"], send["payload"]))
        self.sends.clear()

    @staticmethod
    def _row(send, recv, channel, msg) -> dict:
        return {"channel": channel, "msg_id": msg or "",
                "send_ns": send["ts"] if send else None, "send_pid": send["pid"] if send else None,
                "send_tid": send["tid"] if send else None,
                "recv_ns": recv["ts"] if recv else None, "recv_pid": recv["pid"] if recv else None,
                "recv_tid": recv["tid"] if recv else None,
                "latency_ns": recv["ts"] - send["ts"] if send and recv else None}
