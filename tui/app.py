"""`scope tui`: the execution cinema. The app receives its data source in its
constructor — a recording (`RecordingSource`), a recording in progress
(`LiveSource`) or a store of recordings (`StoreSource`, which opens on a list
to pick from) — so tests hand it any of them, or a fake."""
from __future__ import annotations

from textual.app import App

from .datasource import RecordingSource, StoreSource
from .help import HelpScreen
from .main import MainScreen
from .recordings import RecordingsScreen


class ScopeApp(App):
    TITLE = "scope"

    def __init__(self, source) -> None:
        super().__init__()
        self.source = source

    def on_mount(self) -> None:
        if isinstance(self.source, StoreSource):
            self.push_screen(RecordingsScreen(self.source))
        else:
            self.push_screen(MainScreen(self.source))


__all__ = ["HelpScreen", "MainScreen", "RecordingSource", "RecordingsScreen", "ScopeApp"]
