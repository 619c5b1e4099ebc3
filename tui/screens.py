"""The screens around the main one: the help, and a store's list of recordings."""
from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Static

from ..errors import ScopeError


class HelpScreen(ModalScreen):
    """Every key, from the bindings themselves (so the list cannot go stale)."""

    BINDINGS = [("escape,q,question_mark", "app.pop_screen", "close")]
    DEFAULT_CSS = "HelpScreen { align: center middle; } #help { width: 70; height: auto; " \
                  "max-height: 90%; border: round $accent; padding: 0 1; background: $panel; }"

    def __init__(self, bindings) -> None:
        super().__init__()
        self.keys = bindings

    def compose(self) -> ComposeResult:
        text = Text("scope tui — keys\n\n", style="bold")
        for b in self.keys:
            keys = b.key_display or b.key.replace(",", " / ")
            text.append(f"{keys:>18}  ", style="bold")
            text.append(f"{b.tooltip or b.description}\n")
        text.append("\nEsc, q or ? closes this.", style="dim")
        yield VerticalScroll(Static(text), id="help")


class RecordingsScreen(Screen):
    """A store: its recordings, newest last; Enter opens one."""

    BINDINGS = [("q", "app.quit", "quit")]

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="recordings", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"scope · {self.store.root.name}/ · Enter opens a recording"
        table = self.query_one(DataTable)
        table.add_columns("recording", "state", "started", "seconds", "host", "pid", "events", "dropped")
        for r in self.store.recordings():
            table.add_row(Path(r["recording"]).name, r["state"], r["started"] or "-", r["seconds"], r["host"],
                          r["pid"], r["events"], r["dropped"], key=r["recording"])
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        try:
            source = self.store.open(event.row_key.value)
        except ScopeError as exc:
            self.notify(exc.line(), severity="error", timeout=8)
            return
        from .main import MainScreen
        self.app.push_screen(MainScreen(source))
