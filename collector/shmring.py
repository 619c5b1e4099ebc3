"""Read the shim's shared-memory ring of call/return records.

The shim announces the ring (a memfd) through its scope:ring probe; we map
/proc/PID/fd/N and copy out everything between tail and head in one numpy
slice (two at the wrap), then publish the new tail. Records have the
struct scope_event layout, so they join the eBPF events once their ids are the
host's (a process in a container writes its own).
"""
from __future__ import annotations

import mmap
import os

import numpy as np

from ..errors import ScopeError
from ..probes.layout import header_constants, record_dtype
from .images import shift_records
from .threads import HostTids, in_own_pid_namespace

EVENT = record_dtype("scope_event")
RING = record_dtype("scope_ring")


class RingError(ScopeError):
    fix = "the target's shim and this scope differ in version; rebuild the shim (scope picks it up)"


class RingConsumer:
    def __init__(self, pid: int, fd: int, size: int) -> None:
        consts = header_constants()
        path = f"/proc/{pid}/fd/{fd}"
        try:
            handle = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise RingError(f"cannot open the shim's ring {path}: {exc.strerror}") from None
        try:
            self.inode = os.fstat(handle).st_ino    # tells this ring from a later one on the same fd
            self._map = mmap.mmap(handle, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(handle)
        self.header = np.frombuffer(self._map, RING, count=1)
        h = self.header[0]
        if int(h["magic"]) != int(0x31474E4952504F43) or int(h["record_size"]) != EVENT.itemsize:
            raise RingError(f"process {pid}'s ring is not a scope ring this version reads")
        self.capacity = int(h["capacity"])
        self.mask = self.capacity - 1
        self.records = np.frombuffer(self._map, EVENT, count=self.capacity,
                                     offset=consts["SCOPE_RING_HEADER"])
        self.pid = pid
        # a process in a container writes its own thread ids: translated to the host's
        self.tids = HostTids(pid) if in_own_pid_namespace(pid) else None
        self.fd = fd
        self.id_shift = 0    # added to the shim ids of its records (collector.images)
        self.discarded = 0   # records read only to be counted (discard())

    @property
    def dropped(self) -> int:
        return int(self.header[0]["dropped"])

    @property
    def produced(self) -> int:
        """Records the shim has written or dropped so far (read or not)."""
        h = self.header[0]
        return int(h["head"]) + int(h["dropped"])

    def take(self) -> np.ndarray:
        """Every record published since the last take (a copy), in order."""
        head = int(self.header["head"][0])
        tail = int(self.header["tail"][0])
        if head == tail:
            return self.records[:0].copy()
        a, b = tail & self.mask, head & self.mask
        if a < b:
            out = self.records[a:b].copy()
        else:
            out = np.concatenate([self.records[a:], self.records[:b]])
        self.header["tail"][0] = head      # the producer may reuse these slots now
        shift_records(out, self.id_shift)
        # the records are the target's word: they belong to the process whose ring
        # this is, whatever pid they say (in a container, getpid() is its own)
        out["pid"] = self.pid
        if self.tids is not None:
            self.tids.translate(out["tid"])
        return out

    def discard(self) -> None:
        """Read what was published, only to count it (a ring scope cannot record)."""
        self.discarded += len(self.take())

    def close(self) -> None:
        self.header = self.records = None
        try:
            self._map.close()
        except BufferError:
            pass
