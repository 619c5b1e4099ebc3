"""An interactive flame graph as one SVG file (`scope export --format svg`),
the picture flamegraph.pl and py-spy draw: each box a function in a stack, as
wide as the time spent in it and in what it called, callers below callees.
Click a box to zoom into it (click the bottom bar, or press Escape, to zoom
out), hover for its name, place and time, search with Ctrl-F or the Search
button (a regular expression; matches turn purple and their share is shown).

Pure: calls in (exports/calls.py's placed calls), text out. Names come from
the target: they go through scope.text's ``xml_text`` (control characters
shown escaped, what XML cannot hold replaced, markup escaped), so the document
is well formed whatever they hold, and are only ever placed as text; the
script reads them from the document, never runs them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from scope.text import shown, xml_text
from scope.units import human_ns

from .. import calltree
from .base import Exporter
from .calls import placed_calls

WIDTH = 1200          # px of the graph
FRAME = 16            # px per stack level
MIN_PX = 0.1          # boxes narrower than this are left out (their time stays in their parent)
PAD_TOP = 44          # title and search line
PAD_BOTTOM = 24       # the details line


@dataclass
class Node:
    name: str
    place: str                       # file:line, or "" for the root
    total: int = 0                   # ns in it and what it called
    children: dict = field(default_factory=dict)


def stack_tree(calls) -> Node:
    """Calls (with call_id, parent_id, name, file, line, start, end) as one tree
    of stacks: a node per distinct path of (name, file, first line) frames,
    holding the time of every call on that path (store/calltree.py)."""
    frame, frames = calltree.frames_of((c.name, f"{c.file}:{c.line}" if c.line else c.file) for c in calls)
    tree = calltree.build(np.array([c.call_id for c in calls], np.int64),
                          np.array([-1 if c.parent_id is None else c.parent_id for c in calls], np.int64), frame)
    dur = np.array([c.end - c.start for c in calls], np.int64)
    # inclusive: a call's children's time is inside it
    totals = np.bincount(tree.stack, weights=dur, minlength=len(tree.stack_parent)).astype(np.int64).tolist() \
        if len(calls) else []
    root = Node("all", "")
    nodes = []
    for sid, (up, f) in enumerate(zip(tree.stack_parent.tolist(), tree.stack_frame.tolist())):
        name, place = frames[f]
        nodes.append(Node(name, place, totals[sid]))
        (root if up < 0 else nodes[up]).children[(name, place)] = nodes[sid]
    # a parent's box must cover its children even when calls were left out
    # (broken ones): its total is at least theirs. Children before parents:
    # stack ids grow with depth.
    for sid in range(len(nodes) - 1, -1, -1):
        node = nodes[sid]
        node.total = max(node.total, sum(ch.total for ch in node.children.values()))
    root.total = sum(ch.total for ch in root.children.values())
    return root


def _color(name: str) -> str:
    """A warm colour from the name (the same function, the same colour)."""
    h = hashlib.blake2s(name.encode("utf-8", "surrogatepass"), digest_size=3).digest()
    return f"rgb({205 + h[0] % 50},{h[1] % 200 + 30},{h[2] % 55})"


def render(root: Node, title: str, *, icicle: bool = False) -> str:
    """The SVG document of a stack tree (drawn without script too; the script
    adds zoom, search and the details line). ``icicle``: callers above callees
    (the root at the top, where a page starts), else below, as flame graphs are."""
    total = root.total or 1
    placed: list[tuple[Node, float, float, int]] = []
    left_out = 0
    stack = [(root, 0.0, 0)]
    while stack:
        node, x, depth = stack.pop()
        w = node.total / total * WIDTH
        if w < MIN_PX:
            left_out += 1
            continue
        placed.append((node, x, w, depth))
        cx = x
        for child in sorted(node.children.values(), key=lambda n: (n.name, n.place)):
            stack.append((child, cx, depth + 1))
            cx += child.total / total * WIDTH
    depth_max = max((d for *_, d in placed), default=0)
    bottom = PAD_TOP + (depth_max + 1) * FRAME
    height = bottom + PAD_BOTTOM
    note = f" · {left_out:,} frames narrower than {MIN_PX} px left out" if left_out else ""
    summary = f"{human_ns(root.total)} in all{note}"
    return "\n".join([
        '<?xml version="1.0" standalone="no"?>',
        (f'<svg version="1.1" width="{WIDTH + 20}" height="{height}" viewBox="0 0 {WIDTH + 20} {height}" '
         'xmlns="http://www.w3.org/2000/svg" onload="init(evt)" data-scope-flamegraph="1">'),
        f"<style>{_CSS}</style>",
        f"<script type=\"text/ecmascript\"><![CDATA[{_script()}]]></script>",
        f'<rect x="0" y="0" width="{WIDTH + 20}" height="{height}" fill="#f8f8f8"/>',
        f'<text id="title" x="{(WIDTH + 20) // 2}" y="20" text-anchor="middle">{xml_text(title)}</text>',
        f'<text id="details" x="10" y="{height - 8}" data-default="{xml_text(summary)}">{xml_text(summary)}</text>',
        '<text id="unzoom" class="hide" x="10" y="20">Reset zoom</text>',
        f'<text id="search" x="{WIDTH - 100}" y="20">Search</text>',
        f'<text id="matched" x="{WIDTH - 100}" y="{height - 8}"></text>',
        f'<g id="frames" data-height="{bottom}" data-icicle="{int(icicle)}">',
        *(_box(node, x, w, depth, total, _y(depth, bottom, icicle)) for node, x, w, depth in placed),
        "</g>",
        "</svg>",
        "",
    ])


def _y(depth: int, bottom: int, icicle: bool) -> int:
    return PAD_TOP + depth * FRAME if icicle else bottom - (depth + 1) * FRAME


def _fit(label: str, width: float) -> str:
    """The label cut to a box ~7 px a character wide (as the script cuts it)."""
    fit = int((width - 6) // 7)
    return "" if fit < 3 else label if len(label) <= fit else label[:fit - 2] + ".."


def _box(node: Node, x: float, w: float, depth: int, total: int, y: int) -> str:
    share = node.total / total * 100
    label = shown(node.name)
    info = f"{label} ({shown(node.place)})" if node.place else label
    tip = f"{info} — {human_ns(node.total)}, {share:.2f}%"
    return (f'<g data-depth="{depth}" data-ns="{node.total}"><title>{xml_text(tip)}</title>'
            f'<rect x="{x + 10:.2f}" y="{y}" width="{w:.2f}" height="{FRAME - 1}" fill="{_color(node.name)}" '
            f'rx="2"/><text x="{x + 13:.2f}" y="{y + FRAME - 4}" data-name="{xml_text(label)}">'
            f'{xml_text(_fit(label, w))}</text></g>')


def _script() -> str:
    return _SCRIPT.replace("__FRAME__", str(FRAME)).replace("__TOP__", str(PAD_TOP))


_CSS = ("text { font-family: Verdana, sans-serif; font-size: 12px; fill: #000 } "
        "#frames text { font-size: 11px; pointer-events: none } "
        "#frames g:hover rect { stroke: #000; stroke-width: 0.5 } "
        "#title { font-size: 16px } #search, #unzoom { cursor: pointer } .hide { display: none } "
        "#frames rect { cursor: pointer }")

# Zoom, search and labels: the boxes carry their depth and time; labels are
# cut to fit. Names are read from data-name attributes as text only.
_SCRIPT = r"""
var frames, details, searchBtn, unzoomBtn, matchedTxt, bottom, icicle, frameH = __FRAME__, full = 1200, left = 10;
var top0 = __TOP__;
function init(evt) {
  frames = document.getElementById("frames");
  details = document.getElementById("details").firstChild;
  searchBtn = document.getElementById("search");
  unzoomBtn = document.getElementById("unzoom");
  matchedTxt = document.getElementById("matched");
  bottom = parseFloat(frames.getAttribute("data-height"));
  icicle = frames.getAttribute("data-icicle") === "1";
  var gs = frames.getElementsByTagName("g");
  for (var i = 0; i < gs.length; i++) {
    var g = gs[i], r = g.getElementsByTagName("rect")[0];
    g.setAttribute("data-x", r.getAttribute("x"));
    g.setAttribute("data-w", r.getAttribute("width"));
    g.onclick = function () { zoom(this); };
    g.onmouseover = function () { show(this); };
    g.onmouseout = function () { details.nodeValue = document.getElementById("details").getAttribute("data-default"); };
  }
  searchBtn.onclick = function () { search(); };
  unzoomBtn.onclick = function () { unzoom(); };
  window.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "f") { e.preventDefault(); search(); }
    if (e.key === "Escape") { unzoom(); }
  });
  place(null);
}
function show(g) { details.nodeValue = g.getElementsByTagName("title")[0].textContent; }
function place(zoomed) {
  var gs = frames.getElementsByTagName("g");
  var zx = 0, zw = full, zd = 0;
  if (zoomed) {
    zx = parseFloat(zoomed.getAttribute("data-x")) - left; zw = parseFloat(zoomed.getAttribute("data-w")); zd = 0;
  }
  for (var i = 0; i < gs.length; i++) {
    var g = gs[i], r = g.getElementsByTagName("rect")[0], t = g.getElementsByTagName("text")[0];
    var x = parseFloat(g.getAttribute("data-x")) - left, w = parseFloat(g.getAttribute("data-w"));
    var d = parseInt(g.getAttribute("data-depth"), 10);
    var inside = !zoomed || (x >= zx - 0.001 && x + w <= zx + zw + 0.001);
    var below = zoomed && !inside && x <= zx + 0.001 && x + w >= zx + zw - 0.001;
    if (!inside && !below) { g.setAttribute("class", "hide"); continue; }
    g.removeAttribute("class");
    var nx = below ? 0 : (x - zx) / zw * full, nw = below ? full : w / zw * full;
    var y = icicle ? top0 + d * frameH : bottom - (d + 1) * frameH;
    r.setAttribute("x", nx + left); r.setAttribute("width", nw); r.setAttribute("y", y);
    t.setAttribute("x", nx + left + 3); t.setAttribute("y", y + frameH - 4);
    var name = t.getAttribute("data-name"), fit = Math.floor((nw - 6) / 7);
    t.textContent = fit < 3 ? "" : (name.length <= fit ? name : name.substring(0, fit - 2) + "..");
  }
}
function zoom(g) { unzoomBtn.removeAttribute("class"); place(g); }
function unzoom() { unzoomBtn.setAttribute("class", "hide"); place(null); }
function search() {
  var term = prompt("Search for (a regular expression):", "");
  var gs = frames.getElementsByTagName("g"), re, hit = 0, all = 0;
  for (var i = 0; i < gs.length; i++) { gs[i].getElementsByTagName("rect")[0].removeAttribute("style"); }
  matchedTxt.textContent = "";
  if (!term) { return; }
  try { re = new RegExp(term); } catch (e) { matchedTxt.textContent = "not a regular expression"; return; }
  var counted = [];
  for (var j = 0; j < gs.length; j++) {
    var g = gs[j], name = g.getElementsByTagName("text")[0].getAttribute("data-name");
    var ns = parseFloat(g.getAttribute("data-ns")), d = parseInt(g.getAttribute("data-depth"), 10);
    if (d === 0) { all = ns; }
    if (re.test(name)) {
      g.getElementsByTagName("rect")[0].setAttribute("style", "fill: rgb(230,0,230)");
      var x = parseFloat(g.getAttribute("data-x")), w = parseFloat(g.getAttribute("data-w")), nested = false;
      for (var k = 0; k < counted.length; k++) { if (x >= counted[k][0] && x + w <= counted[k][1]) { nested = true; } }
      if (!nested) { hit += ns; counted.push([x, x + w]); }
    }
  }
  matchedTxt.textContent = "Matched: " + (all ? (100 * hit / all).toFixed(1) : "0") + "%";
}
"""


def flamegraph_svg(rec) -> str:
    """The recording's flame graph (scope's own frames left out, as everywhere)."""
    return render(stack_tree(placed_calls(rec)), f"Flame graph of {rec.folder.name}")


EXPORTER = Exporter("svg", ".svg", flamegraph_svg,
                    "an interactive flame graph for a browser (zoom, search): the default")
