"""The live status line on stderr while recording (only on a terminal)."""
from __future__ import annotations

import sys

from scope.units import human_bytes


class StatusLine:
    def __init__(self, *, enabled: bool | None = None, stream=None, every: float = 0.5):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.every = every
        self._last = 0.0
        self._last_events = 0
        self._shown = False

    def update(self, elapsed: float, events: int, drops: int, written: int) -> None:
        if not self.enabled or elapsed - self._last < self.every:
            return
        rate = (events - self._last_events) / max(elapsed - self._last, 1e-9)
        self._last, self._last_events = elapsed, events
        self.stream.write(f"\r\x1b[Krecording {elapsed:6.1f} s  {events:,} events "
                          f"({rate:,.0f}/s)  dropped {drops:,}  written {human_bytes(written)}")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
