"""Folded stacks: one line per distinct stack with its self time, the input of
flamegraph.pl, inferno and speedscope's importer.

Each line is ``frame;frame;... count``: a ';' splits frames, a newline ends
the stack, the last space comes before the count. Names come from the target,
so each frame is written as scope.text's ``shown`` writes it for a terminal
(control characters, newlines among them, as visible escapes: ``\\x1b``,
``\\n``) with its ';' as ':' — a name can neither drive the terminal the
file is printed on nor add a frame, a stack or a line."""
from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from scope.text import shown

from .. import calltree
from ..reader import Recording
from .base import Exporter
from .calls import placed_table


def _folded_frame(name: str, file: str, line: int | None) -> str:
    """A frame as py-spy writes it, ``function (file:line)``: the file and first
    line tell same-named functions apart. Control characters shown escaped (a
    newline would end the stack), a ';' as ':' (it would split it)."""
    place = f"{file}:{line}" if line else file
    label = f"{name} ({place})" if place else name
    return shown(label).replace(";", ":")


def folded(rec: Recording) -> str:
    """One line per distinct stack: frames root first, joined by ';', then its self time in ns."""
    t = placed_table(rec)
    frame, labels = calltree.frames_of(zip(t["name"].to_pylist(), t["file"].to_pylist(), t["line"].to_pylist()))
    tree = calltree.build(t["call_id"].to_numpy(zero_copy_only=False),
                          pc.fill_null(t["parent_id"], -1).to_numpy(zero_copy_only=False), frame)
    dur = pc.subtract(t["end_ns"], t["start_ns"]).to_numpy(zero_copy_only=False).astype(np.int64)
    own = calltree.self_times(tree, dur)
    keep = own > 0
    totals = np.bincount(tree.stack[keep], weights=own[keep], minlength=len(tree.stack_parent)).astype(np.int64)
    stacks = calltree.stack_labels(tree, [_folded_frame(*label) for label in labels], ";")
    lines: dict[str, int] = {}
    for sid in np.flatnonzero(totals).tolist():     # frames' labels may repeat: sum equal stacks
        lines[stacks[sid]] = lines.get(stacks[sid], 0) + int(totals[sid])
    return "".join(f"{stack} {ns}\n" for stack, ns in sorted(lines.items()))


EXPORTER = Exporter("folded", ".folded", folded, "flamegraph.pl input")
