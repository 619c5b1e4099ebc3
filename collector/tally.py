"""What a session counts as it goes: events by kind, the failures the shim
swallowed, its switch thread's own events left out, and the kernel's drops."""
from __future__ import annotations

from collections import Counter

import numpy as np

from scope import kinds


class Tally:
    def __init__(self) -> None:
        self.by_kind: Counter = Counter()       # events (and app events) by kind name
        self.shim_errors: Counter = Counter()   # failures the shim swallowed, by reason
        self.own_events = 0                     # the shim's switch thread's, left out
        self.kernel_drops = 0                   # the probes' drop counters, as last read

    def events(self, ev: np.ndarray) -> None:
        counts = np.bincount(ev["kind"])
        self.by_kind.update({kinds.NAMES.get(k, str(k)): int(counts[k]) for k in np.flatnonzero(counts)})
        if len(counts) > kinds.SHIM_ERROR and counts[kinds.SHIM_ERROR]:
            reasons = ev["arg"][ev["kind"] == kinds.SHIM_ERROR]
            # the reason is the target's word: one key for any the shim does not give (a bounded table)
            self.shim_errors.update(kinds.SHIM_ERRORS.get(int(r), "unknown_reason") for r in reasons)

    def app_events(self, rows: list[dict]) -> None:
        self.by_kind.update(kinds.NAMES.get(r["kind"], str(r["kind"])) for r in rows)

    def saw_drops(self, total: int) -> None:
        """The kernel's drop counters only grow; a read may lag another."""
        self.kernel_drops = max(total, self.kernel_drops)

    def calls_produced(self) -> int:
        """Call records the targets produced through the probes: kept or dropped."""
        return self.by_kind["call"] + self.by_kind["return"] + self.kernel_drops

    def meta(self) -> dict:
        """Its share of session.json: events by kind (``counts.events``), the
        shim's swallowed failures (``shim.errors``)."""
        return {"events": dict(self.by_kind), "shim_errors": dict(sorted(self.shim_errors.items()))}

    def total(self) -> int:
        return sum(self.by_kind.values())
