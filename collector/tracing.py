"""The shim's call tracing as the session sees it: when it turned on, off or
paused (session.json `shim.tracing`), and the switch thread that turns it —
scope's own thread in the target, whose events are left out."""
from __future__ import annotations

import numpy as np

from scope import kinds

from .app import TracingChange


class ShimTracing:
    def __init__(self, capture) -> None:
        self.changes: list[dict] = []          # {ts, pid, state}: session.json shim.tracing
        self.switch_tids: set[int] = set()
        self.own_events = 0                    # the switch thread's, left out
        self._capture = capture                # collector.capture.Capture: the shim's own pauses

    def feed(self, change: TracingChange) -> None:
        if change.switch_tid:
            self.switch_tids.add(change.switch_tid)
        if change.state == kinds.TRACING_PAUSED:
            self._capture.shim_paused(change.pid, change.ts)
        elif change.state == kinds.TRACING_RESUMED:
            self._capture.shim_resumed(change.pid, change.ts)
        if change.state not in (kinds.TRACING_SWITCH, kinds.TRACING_FORKED):     # not changes of state
            self.changes.append({"ts": change.ts, "pid": change.pid,
                                 "state": kinds.TRACING_STATES.get(change.state, str(change.state))})

    def meta(self) -> dict:
        """Its share of session.json's ``shim``."""
        return {"tracing": self.changes, "own_events_excluded": self.own_events,
                "switch_threads": sorted(self.switch_tids)}

    def without_own(self, ev: np.ndarray) -> np.ndarray:
        """The events, less the switch thread's calls, system calls and off-CPU
        time (it polls: sleeps, and 3.12+ traces it): not the app's."""
        if not len(ev) or not self.switch_tids:
            return ev
        own = np.isin(ev["tid"], list(self.switch_tids)) & np.isin(
            ev["kind"], (kinds.CALL, kinds.RETURN, kinds.SYSCALL, kinds.OFFCPU))
        if not own.any():
            return ev
        self.own_events += int(own.sum())
        return ev[~own]
