"""The shim's shared-memory rings of every followed process, and the code-id
spaces of the programs they carry (collector/images.py).

A ring is announced by its process (an app event: `app.RingAnnouncement`),
mapped and configured here, then read every poll. A ring whose target breaks
its rules is set aside and never read again (what it had published is counted
as ``ring_refused``); rings of programs past the id space are read only to be
counted (``reexec_calls``). The rings' own losses (a full ring) are counted
from their headers.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from scope import kinds

from ..store.fsutil import OutputError, owner_ids, write_bytes_atomic
from ..store.spill import NAME as SPILL
from ..store.spill import RINGS as SPILL_RINGS
from ._drain import Drain
from .app import RingAnnouncement
from .images import Images
from .options import BACKLOG_MEMORY
from .shmring import EVENT, RingConsumer, RingError, RingRefused

SPILL_SHARE = 4               # default --max-spill: a quarter of the free space where the recording is


class ShimRings:
    def __init__(self, min_duration_ns: int, call_filters: tuple[str, ...], *,
                 max_backlog: int = BACKLOG_MEMORY, spill_dir: Path | None = None,
                 max_spill: int | None = None, recoverable: bool = True) -> None:
        """``max_backlog``: bytes of backlog in memory; ``spill_dir``: the
        (private) folder where it spills past that (none: it does not);
        ``max_spill``: the spill's bound in bytes (None: a share of the free space);
        ``recoverable``: describe the rings beside the spill for `scope store recover`
        (not for a flight recorder, whose window is in memory until it fires)."""
        self.reading: list[RingConsumer] = []   # read every poll (the governor writes their schedule)
        self.images = Images()
        self.errors: list[str] = []              # why a ring was not read, one line each
        self._min_ns = min_duration_ns
        self._filters = b"".join(f.encode() + b"\0" for f in call_filters) + b"\0"
        self._reexec: list[RingConsumer] = []    # past the programs' id space: counted, not read
        self._refused: list[RingConsumer] = []   # broke their rules: never read again
        self._full = 0                           # records the rings dropped (full), as last read
        self._spill_dir = spill_dir
        self._max_spill = max_spill
        self._max_backlog = max_backlog
        self._recoverable = recoverable and spill_dir is not None and max_spill != 0
        self._drain: Drain | None = None         # made, and its thread started, with the first ring
        self._until: dict[int, int] = {}         # after capture stopped: records each ring had by then
        self._opened = 0                         # rings opened: each ring's serial in its spill tag

    def _drain_for_rings(self) -> Drain:
        if self._drain is None:
            spill, bound = None, 0
            if self._spill_dir is not None and self._max_spill != 0:
                spill = self._spill_dir / SPILL             # made only if the backlog outgrows memory
                bound = self._max_spill
                if bound is None:
                    st = os.statvfs(self._spill_dir)
                    bound = st.f_bavail * st.f_frsize // SPILL_SHARE
            self._drain = Drain(self._max_backlog, spill, bound, owner_ids() or (-1, -1))
            self._drain.start()
        return self._drain

    def open(self, ring: RingAnnouncement, on_open: Callable[[RingConsumer], None]) -> None:
        """Map and configure an announced ring (``on_open`` sets its capture
        schedule before the shim starts writing to it)."""
        if ring.fd < 0:
            return      # a forked child's check
        try:    # the same fd number may hold a new program's ring (exec): the memfd tells
            inode = os.stat(f"/proc/{ring.pid}/fd/{ring.fd}").st_ino
        except OSError:
            inode = None    # RingConsumer says why
        if any(old.pid == ring.pid and old.inode == inode for old in self.reading + self._reexec):
            return      # a ring announced again
        try:
            tag = ring.pid | (self._opened << 32)      # the spill's name for this ring
            self._opened += 1
            consumer = RingConsumer(ring.pid, ring.fd, ring.size, self._drain_for_rings(), tag)
            shift = self.images.shift(ring.pid, ring.program)
            if shift is None:   # past the id space of one process's programs: counted, not read
                consumer.header["configured"][0] = 1
                self._reexec.append(consumer)
                return
            consumer.id_shift = shift
            consumer.header["min_ns"][0] = self._min_ns    # the shim filters from now on
            consumer.header["filters"][0] = self._filters
            on_open(consumer)
            self.reading.append(consumer)
            if self._recoverable:
                self._describe_rings()
            consumer.header["configured"][0] = 1
        except RingError as exc:
            self.errors.append(exc.line())

    def take(self) -> list[np.ndarray]:
        """Every ring's new records (a ring that breaks its rules now is set aside)."""
        parts = [self._take(ring) for ring in list(self.reading)]
        for ring in self._reexec:
            ring.discard()
        if self.reading:
            self._full = max(sum(r.dropped for r in self.reading), self._full)
        return parts

    def _take(self, ring: RingConsumer) -> np.ndarray:
        try:
            return ring.take()
        except RingRefused as exc:
            self.errors.append(exc.line())
            self.reading.remove(ring)
            ring.let_go()
            self._refused.append(ring)    # kept mapped, never read: what it loses is counted at the end
            return np.zeros(0, EVENT)

    @property
    def backlog(self) -> int:
        """Records drained out of the rings and not yet taken."""
        return sum(r.backlog for r in self.reading)

    def capture_stopped(self) -> None:
        """Capture has ended: from now on, only what each ring held or had
        published by now is still to be taken (a target that goes on writing
        cannot keep the session indexing forever)."""
        self._until = {id(r): r.taken + r.outstanding() for r in self.reading}

    def pending(self) -> bool:
        """Whether records are still to be taken: in the backlog, or published in a
        ring (after capture_stopped: up to what had been published then)."""
        def left(r: RingConsumer) -> bool:
            if r.refusing:       # one more take refuses it (and says why)
                return True
            more = r.outstanding()
            return bool(more) and r.taken < self._until.get(id(r), r.taken + more)
        return any(left(r) for r in self.reading)

    def commit(self) -> None:
        """Everything taken so far is listed on disk with its marks (the session
        has just rolled): the spill ranges read back go to the file system."""
        if self._drain is not None:
            self._drain.commit()

    def marks(self) -> dict[str, int]:
        """Per ring (by its spill tag), the sequence number of the next record to
        take: saved with each roll's listing, where `scope store recover` takes up."""
        return {str(r.tag): r.position for r in self.reading}

    def _describe_rings(self) -> None:
        """rings.json: what reading the spill back without this collector needs,
        per ring: whose it is, the shift of its ids, whether its thread ids are a
        container's, its first sequence number. Written as each ring opens, before
        any of its records can reach the spill."""
        rings = [{"tag": r.tag, "pid": r.pid, "id_shift": r.id_shift, "own_pid_namespace": r.tids is not None,
                  "first": r.first} for r in self.reading]
        try:
            write_bytes_atomic(self._spill_dir / SPILL_RINGS, json.dumps({"format": 1, "rings": rings}).encode())
        except OutputError as exc:      # the spill is not recoverable; the recording goes on
            self.errors.append(str(exc))

    def backlog_meta(self) -> dict | None:
        """The backlog's peaks and what spilled, for session.json (None: no ring was read)."""
        if self._drain is None:
            return None
        s = self._drain.stats()
        return {"memory_peak_bytes": s["memory_peak"], "max_memory_bytes": s["max_memory"],
                "spill_peak_bytes": s["spill_peak"], "spilled_records": s["spilled"],
                "max_spill_bytes": s["max_spill"], "spill_error": s["error"]}

    @property
    def used(self) -> bool:
        """Whether calls came (or were to come) through rings."""
        return bool(self.reading or self._refused)

    def meta(self, shim_loaded: bool) -> dict:
        """Its share of session.json's ``shim``: how calls came, and why a ring was not read."""
        transport = "shared-memory ring" if self.used else ("uprobes" if shim_loaded else None)
        return {"transport": transport, "ring_errors": self.errors, "backlog": self.backlog_meta()}

    def drops(self) -> dict[str, int]:
        """The rings' losses by reason, at the end (each reason only where it can occur)."""
        out: dict[str, int] = {}
        if self.used:
            out[kinds.SHIM_RING_FULL] = self._full
        if self._drain is not None and (unreadable := self._drain.stats()["unreadable"]):
            out["spill_unreadable"] = unreadable    # spilled, then not readable back (the error says why)
        if self._until:     # indexing stopped early (a second signal): what it did not get to
            not_indexed = sum(max(self._until.get(id(r), 0) - r.taken, 0) for r in self.reading)
            if not_indexed:
                out["not_indexed"] = not_indexed
        if self._refused:
            # what refused rings published or dropped after they were refused, as far as
            # their (untrusted, plausibility-checked) headers tell
            out["ring_refused"] = sum(r.unread() for r in self._refused)
        if self._reexec or self.images.names_left_out:
            for ring in self._reexec:
                ring.discard()
            out["reexec_calls"] = sum(r.discarded + r.dropped for r in self._reexec)
            out["reexec_names"] = self.images.names_left_out
        return out

    def close(self) -> None:
        if self._drain is not None:
            self._drain.stop()
            if (error := self._drain.stats()["error"]) and error not in self.errors:
                self.errors.append(f"the rings' spill: {error}")
        for ring in self.reading + self._reexec + self._refused:
            ring.close()

    def remove_spill(self) -> None:
        """Once the recording is finished (what was in the spill is on disk)."""
        if self._drain is not None:
            self._drain.close_spill()
        if self._spill_dir is not None:
            (self._spill_dir / SPILL_RINGS).unlink(missing_ok=True)
