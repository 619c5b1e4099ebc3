"""The programs a process runs one after another, and a code-id space for each.

A process that execs its interpreter again runs a new program whose shim
numbers its code objects from SCOPE_SHIM_ID_BASE again: the same ids would
name other functions. The shim draws a random token per program, and every
code name and ring announcement it sends carries it, so the collector tells
the programs apart whatever order their records arrive in, and moves the shim
ids of a process's k-th program (in the order first seen) up by
k * SCOPE_SHIM_ID_IMAGE. (The kernel's own exec count, task->self_exec_id,
cannot be read here: bcc compiles against another kernel's headers.)
"""
from __future__ import annotations

import numpy as np

from .. import kinds
from ..probes.layout import header_constants

_C = header_constants()
SHIM_BASE = _C["SCOPE_SHIM_ID_BASE"]
IMAGE = _C["SCOPE_SHIM_ID_IMAGE"]
APP_NAME_BASE = _C["SCOPE_APP_NAME_BASE"]
# programs per process with ids of their own: their spaces end where the
# app-event names' begin (it was 2**32: a 17th program's ids were app names')
MAX_IMAGES = (APP_NAME_BASE - SHIM_BASE) // IMAGE


class Images:
    """Per process, its programs in the order they were first seen."""

    def __init__(self) -> None:
        self._gens: dict[int, dict[int, int]] = {}
        self.names_left_out = 0      # code names of programs past the id space

    def shift(self, pid: int, gen: int) -> int | None:
        """What to add to the shim ids of this program; None past the id space."""
        seen = self._gens.setdefault(pid, {})
        k = seen.get(gen)
        if k is None:
            if len(seen) >= MAX_IMAGES:     # not remembered: a process that execs for ever stays bounded
                return None
            k = seen[gen] = len(seen)
        return k * IMAGE

    def shift_names(self, rows: list[dict]) -> list[dict]:
        """Name rows with their shim ids moved into their program's space (in
        place); rows of programs past the id space are left out (and counted)."""
        kept = []
        for r in rows:
            if r["kind"] == "code" and r["code_id"] >= SHIM_BASE:
                shift = self.shift(r["pid"], r["image"])
                if shift is None:
                    self.names_left_out += 1
                    continue
                r["code_id"] += shift
            kept.append(r)
        return kept


def shift_records(recs: np.ndarray, shift: int) -> None:
    """Move a ring's records into their program's id space, in place: the code
    id, and the exception type id a raised return carries in its line field."""
    if not shift or not len(recs):
        return
    code = recs["code"]
    code[code >= SHIM_BASE] += np.uint32(shift)
    raised = (recs["kind"] == kinds.RETURN) & ((recs["flags"] & kinds.F_RAISED) != 0)
    line = recs["line"].view(np.uint32)
    line[raised & (line >= SHIM_BASE)] += np.uint32(shift)
