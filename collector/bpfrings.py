"""Read the kernel's ring buffers into numpy record arrays.

The eBPF side writes without waking the reader (BPF_RB_NO_WAKEUP); the reader
polls on a timer and consumes everything there is. Records are copied as raw
bytes and decoded in bulk (``take``), so per-record Python work is one copy.
"""
from __future__ import annotations

import ctypes as ct

import numpy as np

from ..probes.layout import record_dtype

EVENT = record_dtype("scope_event")
NAME = record_dtype("scope_name")


class RingReader:
    def __init__(self, bpf) -> None:
        self._bpf = bpf
        self._events: list[bytes] = []
        self._names: list[bytes] = []
        self._app: list[bytes] = []
        # bcc calls int() on the callback's result: return 0, not None
        def on_event(_ctx, data, size, _out=self._events, _copy=ct.string_at):
            _out.append(_copy(data, size))
            return 0

        def on_name(_ctx, data, size, _out=self._names, _copy=ct.string_at):
            _out.append(_copy(data, size))
            return 0
        def on_app(_ctx, data, size, _out=self._app, _copy=ct.string_at):
            _out.append(_copy(data, size))
            return 0
        # consumed in this order at every poll, names last: a name is submitted
        # before the first event that uses it, so every event read has its name
        # read in the same poll (collector/identity.py splits a name's events
        # by their lines, which it must know before it sees them)
        bpf["events"].open_ring_buffer(on_event)
        bpf["app"].open_ring_buffer(on_app)
        bpf["names"].open_ring_buffer(on_name)

    def poll(self, timeout_ms: int) -> None:
        self._bpf.ring_buffer_poll(timeout_ms)
        self._bpf.ring_buffer_consume()

    def take(self) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
        """Everything read so far: (events, names) record arrays and the raw app records."""
        ev, self._events[:] = b"".join(self._events), []
        nm, self._names[:] = b"".join(self._names), []
        app, self._app[:] = list(self._app), []
        return np.frombuffer(ev, EVENT), np.frombuffer(nm, NAME), app
