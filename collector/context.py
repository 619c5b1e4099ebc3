"""Kernel context kept for the end: system calls (--syscalls) and off-CPU
intervals (--offcpu), attributed to the calls running then once every call is
known (collector/offcpu.py, tables.py)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from scope import kinds

from ..store.build import offcpu_table
from .offcpu import attribute as attribute_offcpu
from .tables import syscalls_table


class KernelContext:
    def __init__(self) -> None:
        self._syscalls: list[np.ndarray] = []   # SYSCALL records as they came
        self._offcpu: list[tuple] = []          # (pid, tid, start, ns, reason, syscall, call id)

    def feed(self, ev: np.ndarray) -> None:
        sc = ev["kind"] == kinds.SYSCALL
        if sc.any():
            self._syscalls.append(ev[sc])
        for e in ev[ev["kind"] == kinds.OFFCPU]:
            self._offcpu.append((int(e["pid"]), int(e["tid"]), int(e["ts"]), int(e["arg"]) * 1000,
                                 kinds.OFF_REASONS.get(int(e["code"]), "?"), int(e["line"]), -1))

    def offcpu_table(self, calls_index: dict, but_tids: set[int]) -> pa.Table:
        """Off-CPU intervals with the call running then (threads ``but_tids`` left out)."""
        return offcpu_table(attribute_offcpu(calls_index, [o for o in self._offcpu if o[1] not in but_tids]))

    def syscalls_table(self, calls_index: dict, but_tids: set[int]) -> pa.Table:
        """System calls with the call running then (threads ``but_tids`` left out)."""
        return syscalls_table([p[~np.isin(p["tid"], list(but_tids))] for p in self._syscalls], calls_index)
