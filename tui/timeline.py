"""The timeline: one lane per thread (grouped by process), calls drawn as
nested blocks at their real times (a row per depth), GC pauses marked under
them, a time axis in real units, and the cursor — the moment time travel shows.

Layout is pure (`layout_lane`, `axis`): times in, cells out, so it is tested
without a terminal. The widget asks its source only for the window on
screen, calls at least one cell long (`Source.blocks`), and caches the answer.
"""
from __future__ import annotations

import math
import zlib

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ..errors import ScopeError
from ..units import short_ns

DEPTH = 8          # call rows per lane at most (a lane is as deep as its calls in view)
LABEL = 16         # lane label width
PALETTE = ["#3b6ea5", "#5a8f29", "#a86b2d", "#8e4585", "#2d8c8c", "#9c4a3c", "#6b6bb5", "#7a7a2a"]


def color_of(name: str) -> str:
    """The same function gets the same colour everywhere, in every run."""
    return PALETTE[zlib.crc32(name.encode("utf-8", "replace")) % len(PALETTE)]


def cell_of(t: int, lo: int, hi: int, width: int) -> int:
    return int((t - lo) * width // max(hi - lo, 1))


def layout_lane(blocks, lo: int, hi: int, width: int, depth: int = DEPTH) -> list[list[tuple[int, int, object]]]:
    """Per depth row, the (first cell, end cell, block) runs that fit the window;
    a block gets at least one cell, and a later block never overwrites an
    earlier one (the wider wins: blocks come outermost and earliest first).
    Blocks of unknown depth (entered before capture began: outer frames) take
    the first row, and the known depths move down one."""
    rows: list[list[tuple[int, int, object]]] = [[] for _ in range(depth)]
    taken = [bytearray(width) for _ in range(depth)]
    shift = 1 if any(b.depth is None for b in blocks) else 0
    row_of = lambda b: 0 if b.depth is None else b.depth + shift
    for b in sorted(blocks, key=lambda b: (row_of(b), -(b.end - b.start), b.start)):
        r = row_of(b)
        if r >= depth:
            continue
        c0 = max(cell_of(b.start, lo, hi, width), 0)
        c1 = min(max(math.ceil((b.end - lo) * width / max(hi - lo, 1)), c0 + 1), width)
        if c0 >= width or c1 <= 0:
            continue
        free = taken[r]
        while c0 < c1 and free[c0]:
            c0 += 1
        end = c0
        while end < c1 and not free[end]:
            end += 1
        if end > c0:
            free[c0:end] = b"\1" * (end - c0)
            rows[r].append((c0, end, b))
    for row in rows:
        row.sort(key=lambda r: r[0])
    while len(rows) > 1 and not rows[-1]:
        rows.pop()
    return rows


def tick_step(span_ns: int, width: int, every: int = 12) -> int:
    """A 1-2-5 step giving a tick about every `every` cells."""
    raw = max(span_ns * every / max(width, 1), 1)
    base = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * base >= raw:
            return int(m * base)
    return int(10 * base)


def axis(lo: int, hi: int, width: int, origin: int) -> Text:
    """Tick labels: time since the recording's start, in real units."""
    step = tick_step(hi - lo, width)
    line = [" "] * width
    first = ((lo - origin) // step + 1) * step + origin
    t = first
    while t < hi:
        c = cell_of(t, lo, hi, width)
        label = "┆" + short_ns(t - origin)
        if c + len(label) <= width:
            line[c:c + len(label)] = label
        t += step
    return Text("".join(line), style="dim")


class Timeline(Widget, can_focus=True):
    """Lanes of one recording's threads over [lo, hi], with a cursor."""

    DEFAULT_CSS = "Timeline { height: auto; } Timeline:focus { background: $boost; }"
    lo = reactive(0)
    hi = reactive(1)
    cursor = reactive(0)
    lane = reactive(0)
    highlight: reactive[str | None] = reactive(None)

    class Moved(Message):
        """The cursor or the window changed."""
        def __init__(self, cursor: int) -> None:
            super().__init__()
            self.cursor = cursor

    def __init__(self, source, **kw) -> None:
        super().__init__(**kw)
        self.source = source
        lo, hi = source.start_ns, max(source.stop_ns, source.start_ns + 1)
        if not source.live and hasattr(source, "activity"):
            # the first view frames what was recorded (a 5 % margin each side), not the
            # whole recording, where a short program would be a sliver of clipped names
            first, last = source.activity()
            margin = max((last - first) // 20, 1)
            lo, hi = max(lo, first - margin), min(hi, last + margin)
            hi = max(hi, lo + 1)
        self.set_reactive(Timeline.lo, lo)
        self.set_reactive(Timeline.hi, hi)
        self.set_reactive(Timeline.cursor, lo)
        self._cache: tuple | None = None      # (window key, blocks, marks) last asked of the source
        self._laid: tuple = (None, [], None)  # (window key, lanes laid out, the cache they came from)
        self._density: tuple = (None, [])     # (width, the minimap's events per cell)
        self._height: int | None = None       # the content height last laid out

    # -- the window and the cursor ------------------------------------------------
    @property
    def cells(self) -> int:
        return max(self.size.width - LABEL, 10)

    def cell_ns(self) -> int:
        return max((self.hi - self.lo) // self.cells, 1)

    def set_view(self, lo: int, hi: int) -> None:
        start, stop = self.source.start_ns, max(self.source.stop_ns, self.source.start_ns + 1)
        span = min(max(hi - lo, self.cells), stop - start)        # at least 1 ns a cell
        lo = min(max(lo, start), stop - span)
        self.lo, self.hi = lo, lo + span
        if not self.lo <= self.cursor <= self.hi:
            self.move_to(min(max(self.cursor, self.lo), self.hi))
        self.post_message(self.Moved(self.cursor))

    def zoom(self, factor: float) -> None:
        """Zoom around the cursor, keeping it where it is on screen."""
        span = self.hi - self.lo
        frac = (self.cursor - self.lo) / max(span, 1)
        new = max(int(span * factor), 1)
        self.set_view(int(self.cursor - frac * new), int(self.cursor - frac * new) + new)

    def pan(self, fraction: float) -> None:
        shift = int((self.hi - self.lo) * fraction)
        self.set_view(self.lo + shift, self.hi + shift)
        self.move_to(self.cursor + shift)

    def whole(self) -> None:
        self.set_view(self.source.start_ns, self.source.stop_ns)

    def move_to(self, t: int) -> None:
        start, stop = self.source.start_ns, max(self.source.stop_ns, self.source.start_ns + 1)
        self.cursor = min(max(int(t), start), stop)
        if self.cursor < self.lo or self.cursor > self.hi:
            span = self.hi - self.lo
            self.set_view(self.cursor - span // 2, self.cursor + span // 2)
        self.post_message(self.Moved(self.cursor))

    def step(self, cells: int) -> None:
        self.move_to(self.cursor + cells * self.cell_ns())

    # -- the mouse -----------------------------------------------------------------
    def time_at(self, x: int) -> int | None:
        cell = x - LABEL
        return None if cell < 0 else self.lo + cell * (self.hi - self.lo) // self.cells

    def lane_at(self, y: int) -> int | None:
        row = 2
        for i, (_, rows, _) in enumerate(self._layout()):
            if row <= y < row + len(rows) + 1:
                return i
            row += len(rows) + 1
        return None

    def on_click(self, event) -> None:
        """A click on a lane: the cursor there, that thread selected; on the
        minimap (second row): the view moves there."""
        t = self.time_at(event.x)
        if t is None:
            return
        if event.y == 1:
            start, stop = self.source.start_ns, self.source.stop_ns
            where = start + (event.x - LABEL) * (stop - start) // self.cells
            span = self.hi - self.lo
            self.set_view(where - span // 2, where + span // 2)
            self.move_to(where)
            return
        lane = self.lane_at(event.y)
        if lane is not None:
            self.lane = lane
        self.move_to(t)

    def _wheel(self, event, factor: float) -> None:
        t = self.time_at(event.x)
        if t is not None:
            self.cursor = t
            self.zoom(factor)
        event.stop()

    def on_mouse_scroll_up(self, event) -> None:
        self._wheel(event, 0.5)

    def on_mouse_scroll_down(self, event) -> None:
        self._wheel(event, 2.0)

    # -- drawing -----------------------------------------------------------------
    def _data(self):
        key = (self.lo, self.hi, self.cells, id(self.source.rec) if hasattr(self.source, "rec") else 0)
        if self._cache is None or self._cache[0] != key:
            try:
                blocks = self.source.blocks(self.lo, self.hi, min_ns=self.cell_ns(), max_depth=DEPTH)
                gc = self.source.marks(self.lo, self.hi)
            except ScopeError as exc:     # e.g. a damaged segment: say so, draw what is left
                self.notify(exc.line(), severity="error", timeout=8)
                blocks, gc = {}, {}
            self._cache = (key, blocks, gc)
        return self._cache[1], self._cache[2]

    def _layout(self) -> list[tuple[object, list, list]]:
        """(lane, its rows of blocks, its GC pauses) for the window on screen."""
        key = (self.lo, self.hi, self.cells)
        if self._laid[0] != key or self._laid[2] is not self._cache:
            blocks, gc = self._data()
            laid = [(lane, layout_lane(blocks.get((lane.pid, lane.tid), []), self.lo, self.hi, self.cells),
                     gc.get((lane.pid, lane.tid), [])) for lane in self.source.lanes()]
            self._laid = (key, laid, self._cache)
        return self._laid[1]

    def get_content_height(self, container, viewport, width: int) -> int:
        return 2 + sum(len(rows) + 1 for _, rows, _ in self._layout())

    def render(self) -> Text:
        width = self.cells
        out = Text(no_wrap=True, overflow="crop")
        cur = cell_of(self.cursor, self.lo, self.hi, width)
        out.append(f"{'time':<{LABEL}}", style="bold")
        ticks = axis(self.lo, self.hi, width, self.source.start_ns)
        if 0 <= cur < width:        # the cursor: a mark on the axis, a reversed column below
            ticks = ticks[:cur] + Text("▼", style="bold yellow") + ticks[cur + 1:]
        out.append_text(ticks)
        out.append("\n")
        out.append(f"{'whole':<{LABEL}}", style="dim")
        out.append_text(self._minimap(width))
        for i, (lane, rows, marks) in enumerate(self._layout()):
            label_style = "bold reverse" if i == self.lane else "bold"
            for d, row in enumerate(rows):
                out.append("\n")
                named = lane.name != f"tid {lane.tid}"
                label = ((f"{lane.name[:LABEL - 9]} {lane.tid}" if named else lane.name) if d == 0 else "")[:LABEL - 1]
                out.append(f"{label:<{LABEL}}", style=label_style if d == 0 else "")
                out.append_text(self._row(row, width, cur))
            out.append("\n")
            out.append(" " * LABEL)
            out.append_text(self._marks(marks, width, cur))
        return out

    def _row(self, row, width: int, cur: int) -> Text:
        line = Text(no_wrap=True)
        c = 0
        for c0, c1, b in row:
            if c0 > c:
                line.append(" " * (c0 - c))
            label = b.name if b.kind == "call" else f"⟦{b.name}⟧"
            # each block opens with a thin bar, so repeated calls stay apart
            text = (("▏" if c1 - c0 > 1 else "") + label + " " * (c1 - c0))[:c1 - c0]
            dim = self.highlight is not None and b.name != self.highlight
            style = Style(bgcolor=color_of(b.name), color="white", dim=dim,
                          italic=b.status in ("open", "broken", "spans_gap", "ended"))   # no return seen
            line.append(text, style=style)
            c = c1
        if c < width:
            line.append(" " * (width - c))
        if 0 <= cur < width:
            line.stylize("reverse", cur, cur + 1)
        return line

    def _minimap(self, width: int) -> Text:
        """The whole recording: activity (events per cell, from the catalog), the
        view on screen highlighted, the cursor."""
        if self._density[0] != width:
            self._density = (width, self.source.density(width))
        dens = self._density[1]
        top = max(dens) or 1
        bars = "".join(" ▁▂▃▄▅▆▇█"[min(int(8 * d / top + 0.999), 8)] for d in dens)
        line = Text(bars, style="dim cyan", no_wrap=True)
        start, stop = self.source.start_ns, max(self.source.stop_ns, self.source.start_ns + 1)
        v0, v1 = cell_of(self.lo, start, stop, width), cell_of(self.hi, start, stop, width)
        line.stylize("on #303a4a", max(v0, 0), min(max(v1, v0 + 1), width))
        c = cell_of(self.cursor, start, stop, width)
        if 0 <= c < width:
            line.stylize("bold yellow reverse", c, c + 1)
        return line

    MARK = {"gc": ("▀", "red"), "offcpu": ("░", "blue"), "mark": ("◆", "yellow")}

    def _marks(self, marks, width: int, cur: int) -> Text:
        """Under a lane: GC pauses (red ▀), off-CPU intervals (blue ░), marks (yellow ◆)."""
        cells = [" "] * width
        styles = [""] * width
        for start, end, what in sorted(marks, key=lambda m: m[2] != "mark"):
            ch, style = self.MARK[what]
            c0 = max(cell_of(start, self.lo, self.hi, width), 0)
            c1 = min(max(cell_of(end, self.lo, self.hi, width), c0 + 1), width)
            for c in range(c0, c1):
                if cells[c] == " ":
                    cells[c], styles[c] = ch, style
        line = Text(no_wrap=True)
        for ch, style in zip(cells, styles):
            line.append(ch, style=style)
        if 0 <= cur < width:
            line.stylize("reverse", cur, cur + 1)
        return line

    def _reflow(self) -> None:
        """Redraw; a layout of the whole screen only when the lanes' height changed
        (a reflow costs more than everything else a key press does)."""
        height = 2 + sum(len(rows) + 1 for _, rows, _ in self._layout()) if self.size.width else None
        self.refresh(layout=height != self._height)
        self._height = height

    def watch_lo(self) -> None:
        self._reflow()

    def watch_hi(self) -> None:
        self._reflow()

    def watch_cursor(self) -> None:
        self.refresh()

    def watch_lane(self) -> None:
        self.refresh()

    def watch_highlight(self) -> None:
        self.refresh()
