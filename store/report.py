"""`scope report DIR -o report.html`: one self-contained HTML file that works
offline (memray's idea): the recording's facts, its top functions, a zoomable
flame graph (store/exports/svg.py, inline), a per-thread timeline of the
slowest calls, the GC pauses and the anomalies `scope stats` finds.

Pure: a recording in, text out. Every string from the target or the recording
goes through scope.text's ``xml_text`` (control characters shown escaped, what
XML cannot hold replaced, markup escaped: the inline SVGs stay well formed);
nothing from them is ever run — the page's only scripts are scope's own,
written here.
"""
from __future__ import annotations

import datetime as dt

from scope.text import shown, xml_text
from scope.units import human_ns

from .exports.calls import placed_calls
from .exports.svg import render as flame_svg
from .exports.svg import stack_tree
from .filters import Filters
from .query import slowest
from .reader import Recording
from .stats import report as stats_report

SLOWEST = 40        # calls drawn on the timeline
TOP = 25            # rows of the top-functions table
LANE = 22           # px per thread on the timeline
TIMELINE_W = 1100   # px of the timeline's time axis


def esc(value) -> str:
    """Text as HTML shows it: escaped, control characters visible."""
    return xml_text("" if value is None else str(value))


def _ns(ns) -> str:
    return "-" if ns is None else human_ns(int(ns))


def _facts(rec: Recording) -> list[tuple[str, str]]:
    meta = rec.meta
    target = meta.get("target") or {}
    clock = meta.get("clock") or {}
    start = dt.datetime.fromtimestamp(int(clock["realtime_ns"]) / 1e9).astimezone() if clock else None
    seconds = (int(meta.get("stopped_ns") or rec.start_ns) - rec.start_ns) / 1e9
    counts = meta.get("counts", {})
    calls = counts.get("calls", {})
    events = counts.get("events", {})
    facts = [("process", (f"{target.get('pid')} · {target.get('exe') or '?'} · CPython "
                         f"{target.get('python_version') or '?'}")),
             ("command", " ".join(target.get("cmdline") or [])),
             ("started", start.isoformat(timespec="seconds") if start else "-"),
             ("recorded for", f"{seconds:.3f} s, stopped by {meta.get('stop_reason', '?')}"),
             ("events", f"{sum(events.values()):,}"),
             ("calls", ", ".join(f"{n:,} {status}" for status, n in sorted(calls.items())) or "none"),
             ("dropped", f"{sum((meta.get('drops') or {}).values()):,}")]
    source = target.get("calls")
    if source:
        facts.append(("calls from", f"{source['source']}: {source['why']}"
                      + (f" — lacks {source['lacks']}" if source.get("lacks") else "")))
    return facts


def _table(rows: list[dict], columns: list[tuple[str, str, str]], css: str) -> str:
    """columns: (key, header, kind) with kind "ns", "int", "pct", "place" or "text"."""
    head = "".join(f"<th>{esc(h)}</th>" for _, h, _ in columns)
    body = []
    for r in rows:
        cells = []
        for key, _, kind in columns:
            v = r.get(key)
            if kind == "ns":
                cells.append(f'<td class="num" data-ns="{"" if v is None else int(v)}">{esc(_ns(v))}</td>')
            elif kind == "int":
                cells.append(f'<td class="num">{"-" if v is None else f"{int(v):,}"}</td>')
            elif kind == "pct":
                cells.append(f'<td class="num">{"-" if v is None else f"{v:.1f}"}</td>')
            elif kind == "place":
                place = r.get("file") or ""
                line = r.get("line")
                cells.append(f"<td>{esc(f'{place}:{line}' if line else place)}</td>")
            else:
                cells.append(f"<td>{esc(v if v is not None else '-')}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{len(columns)}">none</td></tr>')
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _timeline(rec: Recording, slowest: list[dict]) -> str:
    """The slowest calls on a time axis, one lane per thread (an SVG)."""
    span = max(int(rec.meta.get("stopped_ns") or rec.start_ns) - rec.start_ns, 1)
    lanes = sorted({(r["pid"], r["tid"]) for r in slowest})
    height = 30 + LANE * max(len(lanes), 1)
    parts = [(f'<svg class="timeline" width="{TIMELINE_W + 130}" height="{height}" '
             f'viewBox="0 0 {TIMELINE_W + 130} {height}" xmlns="http://www.w3.org/2000/svg">')]
    for i, (_pid, tid) in enumerate(lanes):
        y = 10 + i * LANE
        parts.append(f'<text x="0" y="{y + 14}">tid {tid}</text><line x1="120" x2="{TIMELINE_W + 120}" '
                     f'y1="{y + LANE / 2}" y2="{y + LANE / 2}" stroke="#ddd"/>')
    for r in slowest:
        if r.get("start_s") is None or r.get("duration_ns") is None:
            continue
        y = 10 + lanes.index((r["pid"], r["tid"])) * LANE
        x = 120 + r["start_s"] * 1e9 / span * TIMELINE_W
        w = max(r["duration_ns"] / span * TIMELINE_W, 1.5)
        place = f"{r.get('file') or ''}:{r['line']}" if r.get("line") else (r.get("file") or "")
        tip = f"{shown(r['function'] or '?')} ({shown(place)}) — {_ns(r['duration_ns'])} at {r['start_s']:.3f} s"
        parts.append(f'<rect x="{x:.2f}" y="{y + 3}" width="{w:.2f}" height="{LANE - 6}" rx="2" '
                     f'class="call" data-call="{int(r["call_id"])}"><title>{esc(tip)}</title></rect>')
    seconds = span / 1e9
    for k in range(6):
        x = 120 + k / 5 * TIMELINE_W
        parts.append(f'<text x="{x:.0f}" y="{height - 4}" text-anchor="middle" class="tick">'
                     f"{seconds * k / 5:.2f} s</text>")
    parts.append("</svg>")
    return "".join(parts)


def render_report(rec: Recording) -> str:
    """The whole page."""
    sections = stats_report(rec, limit=TOP)
    slow = slowest(rec, Filters(), SLOWEST).to_pylist()
    top = sections["top functions"].to_pylist()
    gc = sections["gc"]
    flame = flame_svg(stack_tree(placed_calls(rec)), f"Flame graph of {rec.folder.name}", icicle=True)
    flame = flame.split("\n", 1)[1].replace(' onload="init(evt)"', "", 1)     # inline: no XML prolog
    facts = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _facts(rec))
    top_cols = [("function", "function", "text"), ("file", "file:line", "place"), ("calls", "calls", "int"),
                ("total_ns", "total", "ns"), ("self_ns", "self", "ns"), ("self_pct", "self %", "pct"),
                ("mean_ns", "mean", "ns"), ("p95_ns", "p95", "ns"), ("p99_ns", "p99", "ns")]
    gc_cols = [("tid", "thread", "int"), ("start_s", "at (s)", "text"), ("duration_ns", "pause", "ns"),
               ("generation", "generation", "int"), ("collected", "collected", "int"),
               ("interrupted", "interrupted", "text")]
    anomaly_cols = [("function", "function", "text"), ("file", "file", "text"), ("call_id", "call", "int"),
                    ("tid", "thread", "int"), ("duration_ns", "took", "ns"), ("median_ns", "median", "ns"),
                    ("z", "z", "pct"), ("stack", "stack", "text")]
    gc_line = (f"{gc.get('count', 0):,} collections, {_ns(gc.get('total_ns', 0))} in all, the longest "
               f"{_ns(gc.get('longest_ns', 0))}") if gc else "none"
    title = f"scope report: {rec.folder.name}"
    top_note = "By total time; self % is each function's share of all self time."
    anomaly_note = ("Calls whose duration is an outlier for their function (median and MAD, modified "
                    "z-score above 3.5).")
    sections_html = [
        f'<section id="facts"><h2>The recording</h2><table class="facts">{facts}</table></section>',
        f'<section id="top"><h2>Top functions</h2><p>{esc(top_note)}</p>{_table(top, top_cols, "top")}</section>',
        f'<section id="flame"><h2>Flame graph</h2><p>{esc(FLAME_NOTE)}</p>{flame}</section>',
        f'<section id="slowest"><h2>The {len(slow)} slowest calls, per thread</h2>{_timeline(rec, slow)}</section>',
        (f'<section id="gc"><h2>Garbage collection</h2><p id="gc-summary">{esc(gc_line)}</p>'
         f'{_table(sections["gc pauses"].to_pylist(), gc_cols, "gc")}</section>'),
        (f'<section id="anomalies"><h2>Anomalies</h2><p>{esc(anomaly_note)}</p>'
         f'{_table(sections["anomalies"].to_pylist(), anomaly_cols, "anomalies")}</section>'),
    ]
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body><h1>{esc(title)}</h1>",
        *sections_html,
        f"<footer>Made by scope from {esc(str(rec.folder))}.</footer>",
        "<script>document.addEventListener('DOMContentLoaded', function () { init(null); });</script>",
        "</body></html>\n",
    ])


FLAME_NOTE = "Click a box to zoom, Escape to zoom out, Ctrl-F to search."


_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; background: #fff }
h1 { font-size: 22px } h2 { font-size: 18px; margin-top: 28px }
table { border-collapse: collapse; font-size: 13px } th, td { padding: 3px 8px; border-bottom: 1px solid #eee;
text-align: left; vertical-align: top } td.num { text-align: right; font-variant-numeric: tabular-nums }
table.facts th { color: #555; font-weight: normal } .timeline rect.call { fill: #d9534f }
.timeline text { font-size: 11px }
.timeline rect.call:hover { fill: #a02622 } footer { margin-top: 32px; color: #777; font-size: 12px }
"""
