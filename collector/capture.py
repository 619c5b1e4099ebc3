"""--max-overhead's side of a session: the governor's schedule applied to the
shims' rings (they keep it themselves) or to the call probes (a thread here
keeps it), and the gaps in capture it leaves."""
from __future__ import annotations

import threading
import time

from .governor import (
    RING_NS_PER_EVENT,
    UPROBE_NS_PER_EVENT,
    Governor,
    capture_on,
    cpu_seconds,
)


def write_schedule(ring, schedule: tuple[int, int, int]) -> None:
    """The shim reads the three fields separately: always-on first, the cycle last."""
    start, on, cycle = schedule
    ring.header["gov_cycle_ns"][0] = 0
    ring.header["gov_start_ns"][0] = start
    ring.header["gov_on_ns"][0] = on
    ring.header["gov_cycle_ns"][0] = cycle


class Capture:
    """The capture schedule of one session and its gaps ({pid (None: all), start_ns, end_ns})."""

    def __init__(self, max_overhead: float | None, probes, rings: list, errors: list) -> None:
        self.governor = Governor(max_overhead, RING_NS_PER_EVENT) if max_overhead else None
        self.probes = probes
        self.rings = rings              # the session's list: rings opened later join it
        self.errors = errors
        self.schedule = (0, 0, 0)       # capture on throughout (governor.capture_on)
        self.gaps: list[dict] = []
        self._seen = (0, 0.0)           # records produced, CPU seconds: at the last step
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def start(self) -> None:
        """Before the target runs: the first schedule, and the keeper for the probes."""
        if self.governor is None:
            return
        self._set(*self.governor.start(time.monotonic()))
        self._keeper = threading.Thread(target=self._keep, name="scope-governor", daemon=True)
        self._keeper.start()

    def stop(self) -> None:
        if self._keeper is not None:
            self._stop.set()
            self._keeper.join()

    def step(self, pids: list[int], produced_without_rings: int) -> None:
        """One measurement: records the targets produced (the rings' heads when the
        shim writes them; they may be ahead of what was read) against their CPU time."""
        if self.governor is None:
            return
        cpu = cpu_seconds(pids)
        produced = sum(r.produced for r in self.rings) if self.rings else produced_without_rings
        self.governor.cost = (RING_NS_PER_EVENT if self.rings else UPROBE_NS_PER_EVENT) * 1e-9
        schedule = self.governor.step(time.monotonic(), produced - self._seen[0], cpu - self._seen[1])
        self._seen = (produced, cpu)
        if schedule is not None:
            self._set(*schedule)

    def _set(self, on_s: float, cycle_s: float) -> None:
        self.schedule = (time.monotonic_ns(), int(on_s * 1e9), int(cycle_s * 1e9))
        for ring in self.rings:
            write_schedule(ring, self.schedule)

    def ring_opened(self, ring) -> None:
        write_schedule(ring, self.schedule)

    def shim_paused(self, pid: int, ts: int) -> None:
        self.gaps.append({"pid": pid, "start_ns": ts, "end_ns": None})

    def shim_resumed(self, pid: int, ts: int) -> None:
        for gap in self.gaps:
            if gap["pid"] == pid and gap["end_ns"] is None:
                gap["end_ns"] = ts

    def _keep(self) -> None:
        """Without the shim, attach and detach the call probes on the schedule (the
        poll loop can be late while it ingests a flood)."""
        while not self._stop.wait(0.01):
            if self.rings:          # the shim keeps it
                continue
            want = capture_on(self.schedule, time.monotonic_ns())
            if want == self.probes.calls_on:
                continue
            # the gap: from when every call link is closed until the first is back
            # (each close or attach itself takes a few ms around those edges)
            if want and self.gaps and self.gaps[-1]["end_ns"] is None:
                self.gaps[-1]["end_ns"] = time.monotonic_ns()
            try:
                self.probes.set_calls(want)
            except Exception as exc:    # noqa: BLE001 — keep recording; say so in session.json
                self.errors.append(f"governing overhead: {type(exc).__name__}: {exc}")
                return
            if not want:
                self.gaps.append({"pid": None, "start_ns": time.monotonic_ns(), "end_ns": None})

    def closed_gaps(self, stop_ns: int | None = None) -> list[dict]:
        """The gaps that have ended (with stop_ns: the open ones end there)."""
        if stop_ns is not None:
            for gap in self.gaps:
                if gap["end_ns"] is None:
                    gap["end_ns"] = stop_ns
        return [g for g in self.gaps if g["end_ns"] is not None]

    def meta(self) -> dict | None:
        if self.governor is None:
            return None
        return {"max_overhead_pct": self.governor.cap_pct,
                "estimated_overhead": self.governor.estimated_overhead, "duty": self.governor.duty}
