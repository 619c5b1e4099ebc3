"""A store's list of recordings; Enter opens one on the main screen."""
from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

from ..errors import ScopeError
from .main import MainScreen


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
        self.app.push_screen(MainScreen(source))
