"""Read the shim's shared-memory ring of call/return records.

The shim announces the ring (a memfd) through its scope:ring probe; we map
/proc/PID/fd/N and hand the mapping to a drain (collector/_drain.c), whose own
thread moves what the shim publishes out of the ring at memory speed, into a
bounded backlog (memory, then a spill file), and publishes the new tail. `take`
reads that backlog back in order and checks it. Records have the struct
scope_event layout, so they join the eBPF events once their ids are the host's
(a process in a container writes its own).
"""
from __future__ import annotations

import fcntl
import mmap
import os
import stat

import numpy as np

from scope import kinds

from ..errors import ScopeError
from ..probes.layout import header_constants, record_dtype
from ..store.derive import D_CALL, D_RETURN
from ._drain import Drain
from .correlate import line_key
from .images import IMAGE, SHIM_BASE, shift_records
from .threads import HostTids, in_own_pid_namespace

EVENT = record_dtype("scope_event")
RING = record_dtype("scope_ring")
TAKE_MAX = 1 << 18      # records one take hands out: the ingest works in bounded batches, and a
                        # second signal while the backlog is indexed is heard within one


class RingError(ScopeError):
    fix = "the target's shim and this scope differ in version; rebuild the shim (scope picks it up)"


class RingRefused(RingError):
    """The ring breaks the rules a scope ring keeps: the target wrote something it
    must not (or is not a scope ring at all). That ring is closed; the rest of
    the recording goes on."""
    fix = "the rest of the recording goes on; the process's calls after this point are not recorded"


REQUIRED_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
RING_MAGIC = header_constants()["SCOPE_RING_MAGIC"]
VALID_KINDS = np.array([kinds.CALL, kinds.RETURN, kinds.LOSS], dtype=np.uint16)
SHIM_FLAGS = kinds.F_RESUME | kinds.F_YIELD | kinds.F_RAISED | kinds.F_CORO    # all a ring record carries


def _foreign_ids(recs: np.ndarray) -> np.ndarray:
    """Records whose code id (or a raised return's exception type id) lies
    outside the shim's own id space: a ring claiming the kernel's names, an
    app event's or another program's would mislabel calls."""
    def outside(ids):
        return (ids != 0) & ((ids < SHIM_BASE) | (ids >= SHIM_BASE + IMAGE))
    raised = (recs["kind"] == kinds.RETURN) & ((recs["flags"] & kinds.F_RAISED) != 0)
    return outside(recs["code"]) | (raised & outside(recs["line"].view(np.uint32)))


def refused_at(recs: np.ndarray, pid: int) -> tuple[int, RingRefused] | None:
    """(index of the first record no shim writes or with an id no shim gives,
    whichever comes first; the refusal), or None: the checks of every record
    read from a ring (or from its spill, by `scope store recover`)."""
    bad = ~np.isin(recs["kind"], VALID_KINDS) | (recs["tid"] == 0) | ((recs["flags"] | SHIM_FLAGS) != SHIM_FLAGS)
    foreign = _foreign_ids(recs)
    either = bad | foreign
    if not either.any():
        return None
    if bad.any():
        refusal = RingRefused(f"process {pid}'s ring holds {int(bad.sum()):,} records no shim writes "
                              f"(kind {int(recs['kind'][bad][0])}, thread {int(recs['tid'][bad][0])}, "
                              f"flags {int(recs['flags'][bad][0]):#x})")
    else:
        refusal = RingRefused(f"process {pid}'s ring holds {int(foreign.sum()):,} records with ids no "
                              f"shim gives (code {int(recs['code'][foreign][0]):#x})")
    return int(either.argmax()), refusal


def mark_derived(recs: np.ndarray) -> None:
    """Mark, in place, the records a calls row will stand for (kinds.F_DERIVED):
    plain calls (no flags, no generator; their line is the code's first line)
    and plain returns (no flags, no generator, line 0). The events table leaves
    them out; readers derive them from the calls table (store/derive.py). Only
    on records that passed `refused_at` (which refuses a ring setting the bit)."""
    kind, flags = recs["kind"], recs["flags"]
    plain = (flags == 0) & (recs["arg"] == 0) & (
        (kind == kinds.CALL) | ((kind == kinds.RETURN) & (recs["line"] == 0)))
    flags[plain] |= np.uint16(kinds.F_DERIVED)


def stood_for(cols: dict, first_line: dict[int, int]) -> np.ndarray:
    """The records calls rows stood for (their `derived` bits), in time order,
    as the events table stores them: a call at start_ns with its code's first
    line, a return at end_ns with line 0. For rows that stop standing for
    them (still running at a roll: Correlator.spell_calls) or are cut from
    the calls (filters, the switch thread's): their events go to `events`."""
    derived = np.asarray(cols["derived"], np.int64)
    start, end = np.asarray(cols["start_ns"], np.int64), np.asarray(cols["end_ns"], np.int64)
    called = np.flatnonzero(((derived & D_CALL) != 0) & (start >= 0))
    returned = np.flatnonzero(((derived & D_RETURN) != 0) & (end >= 0))
    rows = np.concatenate([called, returned])
    out = np.zeros(len(rows), EVENT)
    out["ts"] = np.concatenate([start[called], end[returned]])
    for name, col in (("pid", "pid"), ("tid", "tid"), ("code", "code_id")):
        out[name] = np.asarray(cols[col])[rows]
    out["kind"][:len(called)], out["kind"][len(called):] = kinds.CALL, kinds.RETURN
    out["line"][:len(called)] = [first_line.get(line_key(int(p), int(c)), 0)
                                 for p, c in zip(out["pid"][:len(called)], out["code"][:len(called)])]
    return out[np.argsort(out["ts"], kind="stable")]


def _opened(pid: int, fd: int, size: int, consts: dict) -> tuple[mmap.mmap, int]:
    """The ring memfd mapped, after checking it is one a target cannot resize
    under the mapping (sealed) and that its size is the one announced."""
    path = f"/proc/{pid}/fd/{fd}"
    try:
        handle = os.open(path, os.O_RDWR)
    except OSError as exc:
        raise RingError(f"cannot open the shim's ring {path}: {exc.strerror}") from None
    try:
        st = os.fstat(handle)
        if not stat.S_ISREG(st.st_mode):
            raise RingRefused(f"process {pid}'s ring {path} is not a memory file")
        try:
            seals = fcntl.fcntl(handle, fcntl.F_GET_SEALS)
        except OSError:
            seals = 0
        if seals & REQUIRED_SEALS != REQUIRED_SEALS:
            raise RingRefused(f"process {pid}'s ring is not sealed against resizing (a target could "
                              "shrink it under scope's mapping); refused")
        if size <= consts["SCOPE_RING_HEADER"] or st.st_size != size:
            raise RingRefused(f"process {pid}'s ring is {st.st_size} bytes, not the {size} it announced")
        return mmap.mmap(handle, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE), st.st_ino
    finally:
        os.close(handle)


class RingConsumer:
    """One process's ring. Its header and records are the target's to write and
    so untrusted: the geometry is checked once against the real size, head,
    tail and dropped at every take (``RingRefused`` when broken), and records
    in bulk before anyone else sees them."""

    def __init__(self, pid: int, fd: int, size: int, drain: Drain | None = None, tag: int | None = None) -> None:
        """``drain``: the (running) drain to hand the ring to; without one, the
        ring gets its own, and each take first drains the ring itself. ``tag``:
        the ring's name in the drain's spill (default: the pid)."""
        consts = header_constants()
        self._id: int | None = None          # the ring's index in the drain, while it drains it
        self._left: dict = {"tail": 0, "queued": 0, "broken": None}   # the drain's last word, after
        self._map, self.inode = _opened(pid, fd, size, consts)
        self.header = np.frombuffer(self._map, RING, count=1)
        h = self.header[0]
        if int(h["magic"]) != RING_MAGIC or int(h["record_size"]) != EVENT.itemsize:
            self.close()
            raise RingError(f"process {pid}'s ring is not a scope ring this version reads")
        capacity = int(h["capacity"])
        expected = consts["SCOPE_RING_HEADER"] + capacity * EVENT.itemsize
        if capacity <= 0 or capacity & (capacity - 1) or expected != size:
            self.close()
            raise RingRefused(f"process {pid}'s ring says it holds {capacity} records, which its "
                              f"{size} bytes do not")
        self.capacity = capacity            # read once: the target may rewrite the header's
        self.pid = pid
        # a process in a container writes its own thread ids: translated to the host's
        self.tids = HostTids(pid) if in_own_pid_namespace(pid) else None
        self.fd = fd
        self.id_shift = 0    # added to the shim ids of its records (collector.images)
        self.discarded = 0   # records read only to be counted (discard())
        self._dropped = 0                   # the last plausible dropped count
        self.taken = 0                      # records read so far
        self.rejected = 0                   # records read and refused (RingRefused)
        self._refusal: RingRefused | None = None
        self._pump = drain is None          # no drain thread: take() drains first
        # without a thread, the backlog is at most what one take finds in the ring
        self._drain = drain if drain is not None else Drain(1 << 40)
        self.first = int(h["tail"])         # the sequence number of the first record drained
        self.tag = pid if tag is None else tag
        self._id = self._drain.add(self._map, capacity, self.first, self.tag)

    @property
    def dropped(self) -> int:
        """Records the shim could not write (ring full): only ever grows, and by
        no more than a plausible count (the last one kept otherwise)."""
        if self.header is None:
            return self._dropped
        now = int(self.header[0]["dropped"])
        if self._dropped <= now <= self._dropped + (1 << 40):
            self._dropped = now
        return self._dropped

    @property
    def drained(self) -> dict:
        """The drain's view of this ring: tail (records moved out), queued (moved
        out, not yet taken), broken (why it stopped draining, or None)."""
        return self._left if self._id is None else self._drain.ring(self._id)

    @property
    def position(self) -> int:
        """The sequence number of the next record to take (the spill's chunks
        are numbered the same way)."""
        return self.first + self.taken

    @property
    def refusing(self) -> bool:
        """Whether the next take refuses the ring: the drain found its head
        broken, or the last take kept only the records before bad ones."""
        return self._refusal is not None or bool(self.drained["broken"])

    @property
    def backlog(self) -> int:
        """Records moved out of the ring and not yet taken."""
        return self.drained["queued"]

    @property
    def produced(self) -> int:
        """Records the shim has written or dropped so far (read or not)."""
        tail = self.drained["tail"]
        if self.header is None:
            return tail + self._dropped
        return max(int(self.header[0]["head"]), tail) + self.dropped

    def outstanding(self) -> int:
        """Records not yet taken: drained and queued, or published in the ring and
        not yet drained (as far as the untrusted head is plausible). From one
        look at the drain: its thread moves records from the ring to the queue
        at any moment, and two looks could miss what moved in between."""
        state = self.drained
        if self.header is None or state["broken"]:
            return state["queued"]
        ahead = int(self.header[0]["head"]) - state["tail"]       # head read after: it only grows
        return state["queued"] + (ahead if 0 <= ahead <= self.capacity else 0)

    def take(self, most: int = TAKE_MAX) -> np.ndarray:
        """The oldest records not yet taken (up to ``most``; a copy), in order;
        raises RingRefused when the target broke the ring's rules."""
        if self._refusal is not None:     # found in the last take, after the records it kept
            raise self._refusal
        if self._id is None:
            return np.zeros(0, EVENT)
        if self._pump:
            self._drain.pump()
        out = np.frombuffer(self._drain.take(self._id, most), EVENT)
        if not len(out):
            state = self._drain.ring(self._id)
            if state["broken"]:       # what came before the break was read first
                raise RingRefused(f"process {self.pid}'s ring head moved {state['broken']} "
                                  f"({state['bad_head']} after {state['tail']})")
            return out
        self.taken += len(out)
        problem = refused_at(out, self.pid)
        if problem is not None:
            # records before the first bad one are kept (they came first: as trustworthy
            # as any batch before); from it on, all are refused, and the ring with them
            first, refusal = problem
            self.rejected += len(out) - first
            if not first:
                raise refusal
            self._refusal = refusal
            out = out[:first]
        shift_records(out, self.id_shift)
        mark_derived(out)
        # the records are the target's word: they belong to the process whose ring
        # this is, whatever pid they say (in a container, getpid() is its own)
        out["pid"] = self.pid
        if self.tids is not None:
            self.tids.translate(out["tid"])
        return out

    def let_go(self) -> None:
        """No more draining (a refused ring): what the drain still held is
        counted as unread, and the header stays mapped to count the rest."""
        if self._id is not None:
            self._left = dict(self._drain.ring(self._id))
            self._left["queued"] = self._drain.remove(self._id)
            self._id = None

    def unread(self) -> int:
        """Records published or dropped and never taken: a refused ring's loss
        (its head counted only where plausible: within capacity of what was drained)."""
        state = self.drained
        if self.header is None:
            return self.rejected + state["queued"]
        head, tail = int(self.header[0]["head"]), state["tail"]
        published = head - tail if 0 <= head - tail <= self.capacity else 0
        return published + state["queued"] + self.dropped + self.rejected

    def discard(self) -> None:
        """Read what was published, only to count it (a ring scope cannot record)."""
        self.discarded += len(self.take())

    def close(self) -> None:
        self.let_go()
        self.header = None
        try:
            self._map.close()
        except BufferError:
            pass
