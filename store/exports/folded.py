"""Folded stacks: one line per distinct stack with its self time, the input of
flamegraph.pl, inferno and speedscope's importer."""
from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from .. import calltree
from ..reader import Recording
from .base import Exporter
from .calls import placed_table


def _folded_frame(name: str, file: str, line: int | None) -> str:
    """A frame as py-spy writes it, ``function (file:line)``: the file and first
    line tell same-named functions apart (a ';' would split the stack)."""
    place = f"{file}:{line}" if line else file
    label = f"{name} ({place})" if place else name
    return label.replace(";", ":")


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
