"""Synthetic call/return event streams with the ground truth that produced them."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scope import kinds
from scope.probes.layout import record_dtype

EVENT = record_dtype("scope_event")


@dataclass
class TrueCall:
    code: int
    start: int
    end: int
    depth: int
    parent: TrueCall | None
    tid: int
    children: list = field(default_factory=list)

    @property
    def duration(self) -> int:
        return self.end - self.start

    @property
    def self_ns(self) -> int:
        return self.duration - sum(c.duration for c in self.children)


def tree_events(shape, tid: int, t0: int = 1000, parent=None, depth=0, out_calls=None, out_events=None):
    """Lay out a nested shape [(code, [children...]), ...] in time, 10 ns per step."""
    out_calls = [] if out_calls is None else out_calls
    out_events = [] if out_events is None else out_events
    t = t0
    for code, children in shape:
        call = TrueCall(code, t, 0, depth, parent, tid)
        out_events.append((t, tid, kinds.CALL, code))
        t += 10
        t = tree_events(children, tid, t, call, depth + 1, out_calls, out_events)[0]
        call.end = t
        out_events.append((t, tid, kinds.RETURN, code))
        t += 10
        if parent:
            parent.children.append(call)
        out_calls.append(call)
    return t, out_calls, out_events


def to_records(events) -> np.ndarray:
    arr = np.zeros(len(events), EVENT)
    for i, (ts, tid, kind, code) in enumerate(events):
        arr[i] = (ts, 1, tid, code, 0, kind, 0, 0)
    return arr


def feed(correlator, records: np.ndarray) -> None:
    correlator.feed(records["ts"].astype(np.int64), records["pid"], records["tid"],
                    records["kind"], records["code"], records["line"])


def flagged(events) -> np.ndarray:
    """(ts, tid, kind, code, flags, gen, line) tuples -> records."""
    arr = np.zeros(len(events), EVENT)
    for i, (ts, tid, kind, code, fl, gen, line) in enumerate(events):
        arr[i] = (ts, 1, tid, code, line, kind, fl, gen)
    return arr


def feed_all(correlator, records: np.ndarray) -> None:
    correlator.feed(records["ts"].astype(np.int64), records["pid"], records["tid"], records["kind"],
                    records["code"], records["line"], records["flags"], records["arg"])


def pairs(n: int, *, threads: int, span_ns: int, start: int, pid: int = 7) -> np.ndarray:
    """n events: per thread, call pairs outer(f_a) -> inner(f_b), 4 events each,
    times rising; 100 functions (codes 1-100). The store bench's recording."""
    ev = np.zeros(n, EVENT)
    units = n // 4
    u = np.arange(units)
    tid = 1000 + u % threads
    per_thread = units // threads
    step = span_ns // max(per_thread, 1)
    base = start + (u // threads) * step
    outer, inner = 1 + u % 50, 51 + (u * 7) % 50
    for k, (kind, code, dt) in enumerate(((kinds.CALL, outer, 0), (kinds.CALL, inner, step // 8),
                                          (kinds.RETURN, inner, step // 8 + step // 4 + (u % 13) * 100),
                                          (kinds.RETURN, outer, step // 2))):
        ev["ts"][k::4] = base + dt
        ev["kind"][k::4] = kind
        ev["code"][k::4] = code
        ev["tid"][k::4] = tid
    ev["pid"] = pid
    return ev
