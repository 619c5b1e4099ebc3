"""The panels under the timeline: the moment at the cursor (time travel), top
functions, events near the cursor, and the selected thread's call tree.
Names and payloads from the recording are data: always rich Text, never markup."""
from __future__ import annotations

import pyarrow as pa
from rich.text import Text
from textual.widgets import DataTable, Static, Tree

from ..store.query import Filters, exact_glob
from ..units import short_ns
from .timeline import color_of


def moment_text(table: pa.Table, t: int, origin: int, previous_states: dict | None = None, *,
                capture_from: int | None = None, entries_unseen: bool = False) -> Text:
    """travel.at's rows as the time-travel panel: each thread's stack (outermost
    first, with how long each frame has been running), the states, the open spans.
    ``capture_from``: when the shim turned call capture on; ``entries_unseen``:
    calls came without their entries (CPython 3.11's markers) — what an empty
    stack means is said accordingly."""
    out = Text()
    out.append(f"at {short_ns(t - origin)}\n", style="bold")
    rows = table.to_pylist()
    stacks: dict[tuple[int, int], list[dict]] = {}
    for r in rows:
        if r["section"] == "stack":
            stacks.setdefault((r["pid"], r["tid"]), []).append(r)
    if not stacks:
        if capture_from is not None and t < capture_from:
            out.append(f"call capture begins at {short_ns(capture_from - origin)}, when the shim turned it on\n",
                       style="dim")
        elif entries_unseen:
            out.append("no call known to be running (CPython 3.11's markers report no entries: record with "
                       "the shim for stacks)\n", style="dim")
        else:
            out.append("no call running\n", style="dim")
    for (pid, tid), frames in sorted(stacks.items()):
        out.append(f"pid {pid} tid {tid}\n", style="bold")
        for f in frames:
            out.append("  " * (f["level"] + 1))
            out.append(f["name"] or "?", style=color_of(f["name"] or "?"))
            where = f"{f['file']}:{f['line']}" if f["line"] else (f["file"] or "")
            out.append(f"  {where}", style="dim")
            if f["elapsed_ns"] is not None:
                out.append(f"  running {short_ns(f['elapsed_ns'])}")
            out.append("\n")
    states = [r for r in rows if r["section"] == "state"]
    if states:
        out.append("state\n", style="bold")
        for r in states:
            out.append(f"  {r['name']} = ", style="bold")
            out.append(r["value"] or "")
            before = (previous_states or {}).get((r["pid"], r["name"]))
            if before is not None and before != r["value"]:
                out.append(f"   (was {before})", style="yellow")
            out.append(f"  ({short_ns(r['elapsed_ns'])} ago)\n", style="dim")
    spans = [r for r in rows if r["section"] == "span"]
    if spans:
        out.append("open spans\n", style="bold")
        for r in spans:
            out.append(f"  tid {r['tid']} ")
            out.append(r["name"] or "?")
            out.append(f"  open {short_ns(r['elapsed_ns'])}\n", style="dim")
    return out


class MomentPanel(Static):
    DEFAULT_CSS = "MomentPanel { height: auto; min-height: 100%; padding: 0 1; }"


TOP_COLUMNS = ("function", "file", "calls", "total", "self", "p50", "p95", "p99")


def top_rows(table: pa.Table) -> list[tuple]:
    rows = []
    for r in table.to_pylist():
        fmt = lambda v: "-" if v is None else short_ns(v)
        rows.append((Text(r["function"] or "?"), Text(r["file"] or "", style="dim"), r["calls"],
                     fmt(r["total_ns"]), fmt(r["self_ns"]), fmt(r["p50_ns"]), fmt(r["p95_ns"]),
                     fmt(r["p99_ns"])))
    return rows


class TopTable(DataTable):
    """Top functions by total time; Enter highlights the function everywhere."""


EVENT_COLUMNS = ("time", "tid", "kind", "function", "file", "arg", "payload")
HELP_SEARCH = "filter: a function (glob, part, or =exact), kind:call,return tid:N pid:N file:GLOB"


def parse_search(text: str):
    """The events filter box: words `kind:call,return`, `tid:N`, `pid:N`,
    `file:GLOB`, `=NAME` (exactly this function); anything else is the function
    (a glob, or a part of its name)."""
    fields: dict = {}
    for word in text.split():
        key, sep, value = word.partition(":")
        if sep and key == "kind":
            fields["kinds"] = tuple(k for k in value.split(",") if k)
        elif sep and key in ("tid", "pid") and value.isdigit():
            fields[key] = int(value)
        elif sep and key == "file":
            fields["file"] = value if any(ch in value for ch in "*?[") else f"*{value}*"
        elif word.startswith("=") and len(word) > 1:
            fields["function"] = exact_glob(word[1:])
        else:
            fields["function"] = word if any(ch in word for ch in "*?[") else f"*{word}*"
    return Filters(**fields)


def event_rows(table: pa.Table) -> list[tuple]:
    out = []
    kinds = table["kind"].cast(pa.string()).to_pylist() if table.num_rows else []
    for r, kind in zip(table.select(["time_s", "tid", "function", "file", "arg", "payload"]).to_pylist(), kinds):
        out.append((f"{r['time_s']:.6f}", r["tid"], kind, Text(r["function"] or ""),
                    Text(r["file"] or "", style="dim"), r["arg"], Text((r["payload"] or "")[:80])))
    return out


class EventsTable(DataTable):
    """A page of events from the cursor on, filtered by the search box."""


def fill_tree(tree: Tree, calls: pa.Table) -> int:
    """The calls (one thread, a time range) as a tree: name, total, self, % of
    its parent. Returns how many nodes were added."""
    rows = calls.to_pylist()
    by_id = {r["call_id"]: r for r in rows}
    children: dict[int | None, list[dict]] = {}
    for r in rows:
        parent = r["parent_id"] if r["parent_id"] in by_id else None
        children.setdefault(parent, []).append(r)
    tree.clear()
    tree.root.expand()

    def below(r: dict) -> int:
        """Calls under this one (in the tree), for the label."""
        todo, n = list(children.get(r["call_id"], [])), 0
        while todo:
            n += 1
            todo.extend(children.get(todo.pop()["call_id"], []))
        return n

    def label(r: dict, parent: dict | None) -> Text:
        text = Text(r["function"] or "?", style=color_of(r["function"] or "?"))
        n = below(r)
        if n:
            text.append(f"  [{n} calls]", style="cyan")
        if r["duration_ns"] is not None:
            text.append(f"  {short_ns(r['duration_ns'])}")
            if r["self_ns"] is not None:
                text.append(f"  self {short_ns(r['self_ns'])}", style="dim")
            if parent is not None and parent["duration_ns"]:
                text.append(f"  {100 * r['duration_ns'] / parent['duration_ns']:.0f}%", style="yellow")
        else:
            text.append(f"  ({r['status']})", style="dim")
        return text

    count = 0
    stack = [(tree.root, None, r) for r in reversed(children.get(None, []))]
    while stack:
        node, parent, r = stack.pop()
        kids = children.get(r["call_id"], [])
        child = node.add(label(r, parent), data=r, expand=False) if kids else node.add_leaf(label(r, parent), data=r)
        count += 1
        stack.extend((child, r, k) for k in reversed(kids))
    return count


def slowest_child(node):
    """The child node with the longest call, for the 'jump to the slowest child' key."""
    kids = [c for c in node.children if c.data is not None]
    return max(kids, key=lambda c: c.data.get("duration_ns") or -1) if kids else None
