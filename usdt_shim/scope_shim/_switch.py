"""Turn complete call capture on while a collector is attached, off when it leaves.

A daemon thread polls the `scope:tracing` probe's semaphore (the collector
raises it by attaching that probe) every INTERVAL seconds: the detection delay.
<= 3.11: a C profile function on every thread, plus threading.setprofile for
threads started later. >= 3.12: sys.monitoring with the shim's C callbacks.
"""
from __future__ import annotations

import os
import sys
import threading
import time

from . import _shim

INTERVAL = 0.02
RING_CAPACITY = 1 << 21    # records of 32 bytes: 64 MiB of address space, touched as used
CONFIGURE_WAIT = 0.1       # seconds to wait for the collector to take the ring
ON, OFF, REFUSED = 1, 0, -1
PAUSED, RESUMED = 4, 5     # the collector's --max-overhead governor paused/resumed capture
TOOL_IDS = (4, 3)      # sys.monitoring ids left free by convention (0 debugger, 1 coverage, 2 profiler, 5 optimizer)


class Switch:
    def __init__(self) -> None:
        self.on = False
        self.paused = False     # requested, but paused by the collector
        self.refused = False
        self.tool_id: int | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="scope-shim-switch", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        _shim._set_switch_thread()
        while True:
            time.sleep(INTERVAL)
            try:
                self.poll()
            except Exception:   # never let the switch die loudly inside the application
                _shim._error(_shim.E_SWITCH)

    def poll(self) -> None:
        want = _shim._tracing_requested()
        if want and (self.on or self.paused):
            pause = _shim._ring_paused()
            if pause and self.on:
                self._tracing(False)
                self.on, self.paused = False, True
                _shim._report(PAUSED)
                return
            if self.paused:
                if not pause:
                    _shim._new_epoch()
                    if self._tracing(True):
                        self.on, self.paused = True, False
                        _shim._report(RESUMED)
                return
        if want and not self.on and not self.paused:
            self._enable()
        elif not want and self.paused:
            self.paused = False
            _shim._report(OFF)
        elif not want and self.on:
            self._disable()
        elif want and sys.version_info < (3, 12):
            # threads started outside `threading`; and notice another profiler taking over
            if _shim._set_tracing(True) == REFUSED and not self.refused:
                self.refused = True
                _shim._report(REFUSED)
        elif not want:
            self.refused = False

    def _enable(self) -> None:
        if _shim._ring_requested():
            # the collector reads calls from shared memory: no trap per call. Wait
            # (briefly) until it has mapped the ring and set its filters, so that
            # --min-duration applies from the first call
            if _shim._ring_start(RING_CAPACITY) >= 0:
                deadline = time.monotonic() + CONFIGURE_WAIT
                while not _shim._ring_configured() and time.monotonic() < deadline:
                    time.sleep(0.001)
        if self._tracing(True):
            self.on = True
            _shim._report(ON)
        elif not self.refused:
            self.refused = True
            _shim._report(REFUSED)

    def _disable(self) -> None:
        self._tracing(False)
        self.on = False
        _shim._report(OFF)

    def _tracing(self, on: bool) -> bool:
        """Call capture on or off, leaving the ring as it is; False if refused."""
        if sys.version_info >= (3, 12):
            if on:
                return self._monitoring_on()
            self._monitoring_off()
            return True
        if on:
            if _shim._set_tracing(True) == REFUSED:
                return False
            threading.setprofile(_shim._thread_hook)
            return True
        _shim._set_tracing(False)
        if getattr(threading, "_profile_hook", None) is _shim._thread_hook:
            threading.setprofile(None)
        return True

    def _monitoring_on(self) -> bool:
        mon = sys.monitoring
        for tool in TOOL_IDS:
            try:
                mon.use_tool_id(tool, "scope")
            except ValueError:
                continue
            ev = mon.events
            callbacks = {ev.PY_START: _shim._on_start, ev.PY_RESUME: _shim._on_resume,
                         ev.PY_THROW: _shim._on_throw, ev.PY_RETURN: _shim._on_return,
                         ev.PY_YIELD: _shim._on_yield, ev.PY_UNWIND: _shim._on_unwind}
            mask = 0
            for event, fn in callbacks.items():
                mon.register_callback(tool, event, fn)
                mask |= event
            mon.set_events(tool, mask)
            self.tool_id = tool
            return True
        return False

    def _monitoring_off(self) -> None:
        mon = sys.monitoring
        if self.tool_id is not None:
            mon.set_events(self.tool_id, 0)
            for event in (mon.events.PY_START, mon.events.PY_RESUME, mon.events.PY_THROW,
                          mon.events.PY_RETURN, mon.events.PY_YIELD, mon.events.PY_UNWIND):
                mon.register_callback(self.tool_id, event, None)
            mon.free_tool_id(self.tool_id)
            self.tool_id = None


SWITCH = Switch()


def _after_fork() -> None:
    # the switch thread did not survive fork; the child's tracing state did (and
    # its own ring, if scope follows it: ring.c). The new switch turns tracing
    # off if no collector follows the child.
    global SWITCH
    old, SWITCH = SWITCH, Switch()
    SWITCH.on, SWITCH.paused, SWITCH.refused, SWITCH.tool_id = old.on, old.paused, old.refused, old.tool_id
    SWITCH.start()


os.register_at_fork(after_in_child=_after_fork)
