"""The help: every key, from the bindings themselves."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


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
