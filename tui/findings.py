"""The Findings tab: `scope explain`'s findings, most severe first; Enter goes
to a finding's evidence on the timeline. Names come from the recording: rich
Text (never markup), escaped by the data source."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ..units import short_ns

COLUMNS = ("severity", "finding", "at stake")
STYLES = {"high": "bold red", "medium": "yellow", "low": "dim"}


class FindingsTable(DataTable):
    """One row per finding (the data source's rows: severity, detector, title,
    at_stake_ns, share, share_of, at)."""

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)
        self._findings: list[dict] = []

    def show(self, findings: list[dict], notes: list[str]) -> None:
        self.clear()
        self._findings = list(findings)
        for f in findings:
            self.add_row(Text(f["severity"], style=STYLES.get(f["severity"], "")),
                         Text(f"{f['detector']}: {f['title']}"),
                         Text(f"{short_ns(f['at_stake_ns'])} ({f['share']:.0%} of {f['share_of']})"))
        if not findings:
            self.add_row(Text("-"), Text("no findings: nothing crossed a detector's threshold (docs/explain.md)"),
                         Text(""))
        for note in notes:
            self.add_row(Text("note", style="dim"), Text(note, style="dim"), Text(""))

    def finding(self, row: int) -> dict | None:
        """The finding on a row (None: a note, or no finding)."""
        return self._findings[row] if 0 <= row < len(self._findings) else None
