"""The main screen: one recording's timeline above, the tabs below (the moment
at the cursor, top functions, events, call tree, source, flame graph)."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
    Static,
    TabbedContent,
    TabPane,
    Tree,
)

from ..errors import ScopeError
from ..store.fleet import state_of
from ..units import short_ns
from .datasource import LiveSource
from .findings import FindingsTable
from .flame import FlameGraph, aggregate
from .help import HelpScreen
from .keys import KEYS
from .panels import (
    EVENT_COLUMNS,
    HELP_SEARCH,
    TOP_COLUMNS,
    EventsTable,
    MomentPanel,
    TopTable,
    event_rows,
    fill_tree,
    moment_text,
    parse_search,
    slowest_child,
    top_rows,
)
from .sourceview import source_text
from .timeline import Timeline

PAGE = 200          # events shown from the cursor on
SPEEDS = (0.01, 0.1, 0.25, 1.0, 4.0, 10.0)


class MainScreen(Screen):
    """One recording: timeline above, the moment / tables below."""

    DEFAULT_CSS = "#lanes { height: auto; max-height: 55%; }"
    BINDINGS = KEYS

    def __init__(self, source) -> None:
        super().__init__()
        self.source = source
        self.playing = False
        self.speed = 3               # index into SPEEDS: 1x
        self.bookmarks: list[int] = []
        self._timer = None
        self._top_loaded = False
        self._findings_loaded = False
        self.flame_one_thread = False
        self.tree_of_span = False
        self._events_next: tuple[int, int] | None = None    # (from ns, rows there already shown)
        self._moment_lines = -1
        self._moment: tuple | None = None     # (t, travel.at's table): the last moment read

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="lanes"):
            yield Timeline(self.source, id="timeline")
        with TabbedContent(initial="moment", id="tabs"):
            with TabPane("Moment [1]", id="moment"):
                yield VerticalScroll(MomentPanel(id="moment-text"))
            with TabPane("Top [2]", id="top"):
                yield TopTable(id="top-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Events [3]", id="events"):
                yield Input(placeholder=HELP_SEARCH, id="search")
                yield EventsTable(id="events-table", cursor_type="row")
            with TabPane("Call tree [4]", id="tree"):
                yield Tree("calls of the selected thread in view", id="call-tree")
            with TabPane("Source [5]", id="source"):
                yield VerticalScroll(Static(id="source-text"))
            with TabPane("Flame [6]", id="flame"):
                yield VerticalScroll(FlameGraph(id="flame-graph"))
            with TabPane("Findings [7]", id="findings"):
                yield FindingsTable(id="findings-table", cursor_type="row")
        yield Footer()

    # -- set-up ------------------------------------------------------------------
    def on_mount(self) -> None:
        s = self.source
        self.title = f"scope · {s.name}"
        self._subtitle()
        self.query_one("#events-table", DataTable).add_columns(*EVENT_COLUMNS)
        self.query_one("#top-table", DataTable).add_columns(*TOP_COLUMNS)
        self.query_one(Timeline).focus()
        self._update_moment()
        for problem in getattr(s, "problems", ()):     # e.g. a damaged calls segment
            self.notify(problem, severity="error", timeout=8)
        if s.live:
            self.set_interval(1.0, self._live_tick)

    def _subtitle(self) -> None:
        s, t = self.source, self.query_one(Timeline)
        parts = [f"{short_ns(s.stop_ns - s.start_ns)}", f"{len(s.lanes())} threads",
                 f"view {short_ns(t.hi - t.lo)}", f"speed {SPEEDS[self.speed]:g}x"]
        if s.drops:
            parts.append(f"{s.drops:,} dropped")
        if self.bookmarks:
            parts.append(f"{len(self.bookmarks)} bookmarks")
        if s.live:
            parts.append("LIVE")
        self.sub_title = " · ".join(parts)

    def _guard(self, fn, *args):
        """A question the recording cannot answer (a damaged file…) is a message, never a traceback."""
        try:
            return fn(*args)
        except ScopeError as exc:
            self.notify(exc.line(), severity="error", timeout=8)
        except OSError as exc:
            self.notify(f"cannot read the recording: {exc}", severity="error", timeout=8)
        return None

    # -- following the cursor ------------------------------------------------------
    def _follow(self, pane: str | None) -> None:
        """Reload the tab that follows the cursor and the view (Top does not)."""
        loader = {"events": self._load_events, "tree": self._load_tree,
                  "source": self._load_source, "flame": self._load_flame}.get(pane or "")
        if loader is not None:
            loader()

    def on_timeline_moved(self, message: Timeline.Moved) -> None:
        self._subtitle()
        self._update_moment()
        self._follow(self.query_one("#tabs", TabbedContent).active)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "top" and not self._top_loaded:
            self._top_loaded = True
            self._load_top()
        if event.pane.id == "findings" and not self._findings_loaded:
            self._findings_loaded = True
            found = self._guard(self.source.findings)
            if found is not None:
                self.query_one("#findings-table", FindingsTable).show(*found)
        self._follow(event.pane.id)

    def _load_flame(self) -> None:
        t, lane = self.query_one(Timeline), self._selected_lane()
        one = lane if self.flame_one_thread else None
        calls = self._guard(self.source.flame_calls, t.lo, t.hi, one and (one.pid, one.tid))
        if calls is not None:
            what = f"tid {one.tid}" if one else "all threads"
            self.query_one("#flame-graph", FlameGraph).show(
                aggregate(calls), f"calls started in view ({short_ns(t.hi - t.lo)}), {what}")

    def action_flame_thread(self) -> None:
        self.flame_one_thread = not self.flame_one_thread
        self.action_tab("flame")
        self._load_flame()

    def _update_moment(self) -> None:
        t = self.query_one(Timeline).cursor
        got = self._guard(self.source.moment_and_previous, t)
        self._moment = (t, got[0]) if got is not None else None
        if got is not None:
            text = moment_text(got[0], t, self.source.start_ns, got[1],
                               capture_from=getattr(self.source, "capture_from_ns", None),
                               entries_unseen=getattr(self.source, "entries_unseen", False))
            lines = text.plain.count("\n")
            panel = self.query_one("#moment-text", MomentPanel)
            # the panel fills its pane at least (CSS): a reflow only when the text is
            # taller than that, or was — a reflow costs more than the rest of a key
            area = panel.parent.size.height if panel.parent is not None else 0
            panel.update(text, layout=max(lines, self._moment_lines) + 1 > area)
            self._moment_lines = lines

    def _load_top(self) -> None:
        table = self._guard(self.source.top)
        if table is not None:
            top = self.query_one("#top-table", DataTable)
            top.clear()
            top.add_rows(top_rows(table))

    def _load_events(self, more: bool = False) -> None:
        """A page of events from the cursor on; with more, the page after the last row."""
        f = parse_search(self.query_one("#search", Input).value)
        if more and self._events_next is None:
            return
        since, shown = self._events_next if more else (self.query_one(Timeline).cursor, 0)
        table = self._guard(self.source.events, since, PAGE + shown, f)
        events = self.query_one("#events-table", DataTable)
        if not more:
            events.clear()
        if table is None:
            return
        table = table.slice(shown)        # those at `since` already shown (a page ended among them)
        events.add_rows(event_rows(table))
        if table.num_rows < PAGE:
            self._events_next = None
        else:                             # the next page: from the last time shown, minus what was
            last = int(table["ts"][-1].as_py())
            at_last = sum(1 for ts in table["ts"].to_pylist() if ts == last)
            self._events_next = (last, at_last + (shown if last == since else 0))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        table = event.data_table
        if table.id == "events-table" and event.cursor_row >= table.row_count - 1:
            self._load_events(more=True)      # scrolled to the end: the next page

    def _selected_lane(self):
        lanes = self.source.lanes()
        return lanes[min(self.query_one(Timeline).lane, len(lanes) - 1)] if lanes else None

    def _load_tree(self) -> None:
        lane, t = self._selected_lane(), self.query_one(Timeline)
        tree = self.query_one("#call-tree", Tree)
        if lane is None:
            return
        lo, hi, what = t.lo, t.hi, "calls started in view"
        if self.tree_of_span:
            span = self._guard(self.source.span_at, lane.pid, lane.tid, t.cursor)
            if span is None:
                what = "no span open at the cursor on this thread (p: back to the view)"
                lo, hi = t.cursor, t.cursor - 1
            else:
                lo, hi = span[1], span[2]
                what = f"calls in span {span[0]} ({short_ns(hi - lo)})"
        tree.root.set_label(Text(f"pid {lane.pid} tid {lane.tid} ({lane.name}), {what}"))
        calls = self._guard(self.source.call_tree, lane.pid, lane.tid, lo, hi)
        if calls is not None:
            fill_tree(tree, calls)

    def _load_source(self) -> None:
        lane, t = self._selected_lane(), self.query_one(Timeline)
        # the moment panel has just read the moment at the cursor: the same table
        moment = self._moment[1] if self._moment and self._moment[0] == t.cursor else \
            self._guard(self.source.moment, t.cursor)
        view = self.query_one("#source-text", Static)
        frames = [] if moment is None or lane is None else [
            r for r in moment.to_pylist() if r["section"] == "stack" and (r["pid"], r["tid"]) == (lane.pid, lane.tid)]
        view.update(source_text(frames[-1] if frames else None))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "search":
            self._load_events()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "findings-table":
            self._go_to_finding(event.data_table.finding(event.cursor_row))
            return
        if event.data_table.id == "top-table":
            name = str(event.data_table.get_row(event.row_key)[0])
            self.query_one(Timeline).highlight = name
            self.query_one("#search", Input).value = f"={name}"
            self.notify(f"highlighting {name} (and the events show its own): n / N step through its calls, "
                        "Esc clears")

    # -- actions -------------------------------------------------------------------
    def action_zoom(self, factor: float) -> None:
        self.query_one(Timeline).zoom(factor)

    def action_step(self, cells: int) -> None:
        self.query_one(Timeline).step(cells)

    def action_pan(self, fraction: float) -> None:
        self.query_one(Timeline).pan(fraction)

    def action_whole(self) -> None:
        self.query_one(Timeline).whole()

    def action_lane(self, delta: int) -> None:
        t = self.query_one(Timeline)
        t.lane = min(max(t.lane + delta, 0), max(len(self.source.lanes()) - 1, 0))
        if self.query_one("#tabs", TabbedContent).active in ("tree", "source", "flame"):
            self.on_timeline_moved(Timeline.Moved(t.cursor))

    def action_slowest(self) -> None:
        """Zoom to the slowest call (of the highlighted function, if one is) and put
        the cursor inside it."""
        table = self._guard(self.source.slowest, 1, self.query_one(Timeline).highlight)
        if table is None or not table.num_rows:
            self.notify("no timed calls in this recording")
            return
        r = table.to_pylist()[0]
        start = self.source.start_ns + int(r["start_s"] * 1e9)
        self.goto_call(r["pid"], r["tid"], start, start + r["duration_ns"])
        self.notify(f"slowest call: {r['function']} ({short_ns(r['duration_ns'])}) on tid {r['tid']}")

    def _go_to_finding(self, finding: dict | None) -> None:
        """The timeline at a finding's evidence (its call, pause or wait), the moment there."""
        if finding is None or not finding.get("at"):
            return
        at = finding["at"]
        self.goto_call(at["pid"], at["tid"], at["start_ns"], max(at["end_ns"], at["start_ns"] + 1))
        self.query_one("#tabs", TabbedContent).active = "moment"
        self.notify(f"at the evidence of: {finding['title']} (7: back to the findings)", timeout=6)

    def goto_call(self, pid: int, tid: int, start: int, end: int) -> None:
        t = self.query_one(Timeline)
        pad = max((end - start) // 8, 1)
        t.set_view(start - pad, end + pad)
        lanes = self.source.lanes()
        t.lane = next((i for i, ln in enumerate(lanes) if (ln.pid, ln.tid) == (pid, tid)), t.lane)
        t.move_to(start + (end - start) // 2)

    def action_event(self, direction: int, this_thread: bool) -> None:
        t = self.query_one(Timeline)
        lane = self._selected_lane() if this_thread else None
        ts = self._guard(self.source.event_near, t.cursor, direction, lane and (lane.pid, lane.tid), None)
        if ts is not None:
            t.move_to(ts)

    def action_same_function(self, direction: int) -> None:
        t = self.query_one(Timeline)
        if t.highlight is None:
            self.notify("highlight a function first (Top [2], Enter)")
            return
        ts = self._guard(self.source.event_near, t.cursor, direction, None, t.highlight)
        if ts is not None:
            t.move_to(ts)

    def action_play(self) -> None:
        self.playing = not self.playing
        if self.playing:
            self._timer = self.set_interval(0.1, self._tick)
        elif self._timer is not None:
            self._timer.stop()
        self.notify("playing" if self.playing else "paused", timeout=1)

    def _tick(self) -> None:
        t = self.query_one(Timeline)
        t.move_to(t.cursor + int(SPEEDS[self.speed] * 0.1 * 1e9))
        if t.cursor >= self.source.stop_ns and not self.source.live:
            self.action_play()

    def action_speed(self, delta: int) -> None:
        self.speed = min(max(self.speed + delta, 0), len(SPEEDS) - 1)
        self._subtitle()

    def action_bookmark(self) -> None:
        cur = self.query_one(Timeline).cursor
        if cur not in self.bookmarks:
            self.bookmarks.append(cur)
            self.bookmarks.sort()
        self._subtitle()
        self.notify(f"bookmark at {short_ns(cur - self.source.start_ns)}", timeout=2)

    def action_next_bookmark(self) -> None:
        if not self.bookmarks:
            self.notify("no bookmarks yet (b sets one)")
            return
        t = self.query_one(Timeline)
        later = [b for b in self.bookmarks if b > t.cursor]
        t.move_to(later[0] if later else self.bookmarks[0])

    def action_clear(self) -> None:
        """Esc: back to the timeline; pressed there, the highlight goes."""
        t = self.query_one(Timeline)
        if self.focused is t:
            t.highlight = None
        t.focus()

    def action_search(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "events"
        self.query_one("#search", Input).focus()

    def action_tab(self, name: str) -> None:
        """Show a tab, and give the keyboard to what it holds (a table, the tree);
        the timeline keeps it for the others. Esc returns to the timeline."""
        self.query_one("#tabs", TabbedContent).active = name
        target = {"top": "#top-table", "events": "#events-table", "tree": "#call-tree",
                  "findings": "#findings-table"}.get(name)
        (self.query_one(target) if target else self.query_one(Timeline)).focus()

    def action_tree_span(self) -> None:
        self.tree_of_span = not self.tree_of_span
        self.action_tab("tree")
        self._load_tree()

    def action_tree_slowest(self) -> None:
        tree = self.query_one("#call-tree", Tree)
        node = tree.cursor_node or tree.root
        child = slowest_child(node)
        if child is not None:
            node.expand()
            tree.select_node(child)
            tree.move_cursor(child)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.BINDINGS))

    def action_live(self) -> None:
        if self.source.live:
            self.notify("already live")
            return
        folder = self.source.rec.folder
        if state_of(folder, None) != "recording":
            self.notify(f"{folder.name} is not being recorded now: nothing to follow")
            return
        source = self._guard(LiveSource, folder)
        if source is not None:
            self.app.switch_screen(MainScreen(source))

    def _live_tick(self) -> None:
        t = self.query_one(Timeline)
        following = t.hi >= self.source.stop_ns - t.cell_ns()
        if self._guard(self.source.refresh):
            if following:
                span = t.hi - t.lo
                t.set_view(self.source.stop_ns - span, self.source.stop_ns)
            t.refresh(layout=True)
            self._subtitle()
