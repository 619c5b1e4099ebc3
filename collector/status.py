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

    def update(self, elapsed: float, events: int, drops: int, written: int, *,
               backlog: int = 0, stopped: bool = False) -> None:
        """``backlog``: records taken out of the rings, not yet indexed;
        ``stopped``: capture has ended and the backlog is being indexed."""
        if not self.enabled or elapsed - self._last < self.every:
            return
        rate = (events - self._last_events) / max(elapsed - self._last, 1e-9)
        self._last, self._last_events = elapsed, events
        what = "indexing" if stopped else "recording"
        behind = f"  backlog {backlog:,}" if backlog else ""
        self.stream.write(f"\r\x1b[K{what} {elapsed:6.1f} s  {events:,} events "
                          f"({rate:,.0f}/s){behind}  dropped {drops:,}  written {human_bytes(written)}")
        self.stream.flush()
        self._shown = True

    def say(self, line: str) -> None:
        """One line on stderr, terminal or not (over the status line on a terminal)."""
        self.stream.write(f"\r\x1b[K{line}\n" if self.enabled else f"{line}\n")
        self.stream.flush()
        self._shown = False

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
