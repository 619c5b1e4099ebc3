"""--max-overhead PCT: duty-cycle call capture so the target's slowdown stays under a cap.

Capture follows a schedule: on for the first `on` ns of every `cycle` ns from
`start`. The shim applies it itself (its switch checks every 20 ms, _switch.py),
so a collector busy draining a backlog cannot overshoot; without the shim the
collector attaches and detaches the call probes on the same schedule.

The share of the target's CPU spent on capture is estimated over each
measurement interval: the records the target produced times the measured cost
of one (~200 ns per ring record: the CPU the call-heavy bench workload spends
per recorded event beyond its own work while a collector drains the ring on the
other core; ~1.2 µs per uprobe hit) against the CPU time it used (schedstat).
The on-fraction is scaled to bring that share to the cap. The constants err
high, so the cap holds on the worst (call-heavy) code; bench/RESULTS.md gives
the slowdown measured under --max-overhead. Every off interval is a gap in
session.json; calls that span one get status "spans_gap", never silently blended.
"""
from __future__ import annotations

import glob
import math

RING_NS_PER_EVENT = 200
UPROBE_NS_PER_EVENT = 1200
ALWAYS_ON = (0, 0)


def cpu_seconds(pids: list[int]) -> float:
    """CPU time used so far by every thread of these processes (gone ones count 0)."""
    total = 0
    for pid in pids:
        for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            try:
                with open(path) as fh:
                    total += int(fh.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total / 1e9


def capture_on(schedule: tuple[int, int, int], now_ns: int) -> bool:
    """The schedule (start, on, cycle) at now_ns, as the shim reads it (module.c)."""
    start, on, cycle = schedule
    return not cycle or now_ns < start or (now_ns - start) % cycle < on


class Governor:
    """Decides the capture schedule. Pure: the caller measures (records produced,
    CPU seconds used since the last step) and applies the schedule it returns."""

    def __init__(self, cap_pct: float, ns_per_event: float, *, min_on_s: float = 0.04,
                 interval_s: float = 0.5, first_on_s: float = 0.1) -> None:
        self.cap_pct = cap_pct
        cap = cap_pct / 100
        self.cap_share = cap / (1 + cap)     # a slowdown of cap = this share of the CPU
        self.cost = ns_per_event * 1e-9
        self.min_on = min_on_s
        self.interval = interval_s
        self.first_on = first_on_s
        self.duty = 1.0
        self.share: float | None = None      # share of CPU spent on capture while on
        self._schedule: tuple[float, float] | None = None
        self._since: float | None = None
        self._events = 0
        self._cpu = 0.0
        self._total_cost = self._total_cpu = 0.0

    @property
    def estimated_overhead(self) -> float | None:
        """The slowdown over everything measured so far (gaps included): what the cap bounds."""
        if not self._total_cpu:
            return None
        share = min(self._total_cost / self._total_cpu, 0.99)
        return share / (1 - share)

    def start(self, now: float) -> tuple[float, float]:
        """The first schedule (on, cycle) in seconds: on briefly, then off until measured."""
        self._since = self._since_prev = self._schedule_start = now
        self._schedule = (self.first_on, 3600.0)
        return self._schedule

    def step(self, now: float, events: int, cpu_s: float) -> tuple[float, float] | None:
        """A new schedule (on, cycle) in seconds when it must change, else None; (0, 0): always on."""
        if self._since is None:
            self.start(now)
        self._events += events
        self._cpu += cpu_s
        self._total_cost += events * self.cost
        self._total_cpu += cpu_s
        elapsed = now - self._since
        if elapsed < (self.first_on if self.share is None else self.interval):
            return None
        share = min(self._events * self.cost / self._cpu, 0.99) if self._cpu > 0 else 0.0
        self._since, self._events, self._cpu = now, 0, 0.0
        # the share was measured at the on-fraction the schedule actually gave
        measured_at = max(self._on_time(self._since_prev, now) / elapsed, 1e-6)
        self._since_prev = now
        self.share = min(share / measured_at, 0.99)
        scale = self.cap_share / share if share > 0 else math.inf     # idle: on at once
        self.duty = max(1e-4, min(1.0, measured_at * scale))
        if self.duty >= 1.0:
            schedule = ALWAYS_ON
        else:
            on = self.min_on
            cycle = on / self.duty
            if cycle < 1.0:      # short cycles: stretch the on-time instead
                on, cycle = self.duty, 1.0
            self.interval = max(0.5, cycle)
            schedule = (on, cycle)
        if schedule == self._schedule == ALWAYS_ON:
            return None
        self._schedule, self._schedule_start = schedule, now
        return schedule

    def _on_time(self, a: float, b: float) -> float:
        """Seconds capture was on between a and b under the schedule in force."""
        on, cycle = self._schedule
        if not cycle:
            return b - a

        def upto(t: float) -> float:
            t = max(t - self._schedule_start, 0.0)
            return (t // cycle) * on + min(t % cycle, on)
        return upto(b) - upto(a)
