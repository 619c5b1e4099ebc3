"""The flame graph (an icicle: roots on top) of a set of calls: every distinct
stack of function names, its total time, laid out in proportion.

`aggregate` is vectorised over the calls table (numpy, one pass per depth
level), so the whole of a 5 M-call recording aggregates without a Python
object per call; `icicle` lays out the nodes; the widget draws them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from ..store import calltree
from ..units import short_ns
from .timeline import color_of

MAX_ROWS = 24
MAX_DEPTH = 256     # deeper stacks than this are cut (recursion)


@dataclass
class Node:
    name: str
    total: int
    children: list[Node] = field(default_factory=list)


_SEP = "\x1f"      # never in a shown name: names are escaped (tui/datasource.py _safe)


def _frame_keys(calls: pa.Table):
    """What makes two calls one frame: their function (qualified name), file and
    first line — a property's getter and setter, or `main` of two modules, are
    frames of their own though their names are the same."""
    parts = [pc.fill_null(calls["function"], "?")]
    for column in ("file", "first_line"):
        if column in calls.column_names:
            parts.append(pc.fill_null(pc.cast(calls[column], pa.string()), ""))
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, _SEP)


def aggregate(calls: pa.Table) -> Node:
    """Calls (call_id, parent_id, pid, code_id, duration_ns, function) -> the tree
    of stacks. A call whose parent is not among them is a root; untimed calls
    (start or end unknown) are left out."""
    calls = calls.filter(pc.is_valid(calls["duration_ns"]))
    root = Node("all", 0)
    if not calls.num_rows:
        return root
    names = _frame_keys(calls)
    enc = pc.dictionary_encode(names).combine_chunks() if isinstance(names, pa.ChunkedArray) \
        else pc.dictionary_encode(names)
    labels = [key.split(_SEP, 1)[0] for key in enc.dictionary.to_pylist()]
    tree = calltree.build(calls["call_id"].to_numpy(zero_copy_only=False),
                          pc.fill_null(calls["parent_id"], -1).to_numpy(zero_copy_only=False),
                          enc.indices.to_numpy(zero_copy_only=False), max_depth=MAX_DEPTH)
    dur = calls["duration_ns"].to_numpy(zero_copy_only=False).astype(np.int64)
    done = tree.stack >= 0
    parents_of, frames_of = tree.stack_parent.tolist(), tree.stack_frame.tolist()
    totals = np.bincount(tree.stack[done], weights=dur[done], minlength=len(parents_of)).astype(np.int64)
    nodes = [Node(labels[f], int(t)) for f, t in zip(frames_of, totals)]
    for sid, up in enumerate(parents_of):
        (root.children if up < 0 else nodes[up].children).append(nodes[sid])
    # recursion adds a call's time again at each level: the root counts its roots only
    root.total = sum(c.total for c in root.children)
    for node in nodes:
        node.children.sort(key=lambda c: -c.total)
    root.children.sort(key=lambda c: -c.total)
    return root


def icicle(root: Node, width: int, rows: int = MAX_ROWS) -> list[list[tuple[int, int, Node]]]:
    """(first cell, end cell, node) per row; a node gets cells in proportion to
    its total within its parent's span; those under one cell are left out."""
    out: list[list[tuple[int, int, Node]]] = [[] for _ in range(rows)]
    scale = width / max(root.total, 1)
    level = [(0, root.children)]
    for r in range(rows):
        nxt = []
        for start, kids in level:
            c = float(start)
            for k in kids:
                w = k.total * scale
                c0, c1 = round(c), round(c + w)
                if c1 > c0:
                    out[r].append((c0, c1, k))
                    nxt.append((c0, k.children))
                c += w
        level = nxt
        if not nxt:
            return out[:r + 1]
    return out


class FlameGraph(Widget):
    """An icicle of the calls it is given (`show`)."""

    DEFAULT_CSS = "FlameGraph { height: auto; }"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.root = Node("all", 0)
        self.title = ""

    def show(self, root: Node, title: str) -> None:
        self.root, self.title = root, title
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return 1 + len(icicle(self.root, max(width, 1)))

    def render(self) -> Text:
        width = max(self.size.width, 1)
        out = Text(no_wrap=True, overflow="crop")
        out.append(f"{self.title} — {short_ns(self.root.total)} in all (roots on top; width = total time)",
                   style="bold")
        for row in icicle(self.root, width):
            out.append("\n")
            c = 0
            for c0, c1, node in row:
                if c0 > c:
                    out.append(" " * (c0 - c))
                label = f"{node.name} {short_ns(node.total)}" if c1 - c0 > len(node.name) + 8 else node.name
                out.append((("▏" if c1 - c0 > 1 else "") + label + " " * (c1 - c0))[:c1 - c0],
                           style=Style(bgcolor=color_of(node.name), color="white"))
                c = c1
        return out
