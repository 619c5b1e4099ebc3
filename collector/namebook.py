"""The names a session has learnt: code objects (from the kernel, the shim and
identity's splits), and the names of app events (marks, spans, states,
channels), which get ids of their own from SCOPE_APP_NAME_BASE.

Names reach disk at every roll (`since_roll`) and whole at the end (`table`).
"""
from __future__ import annotations

import pyarrow as pa

from .images import APP_NAME_BASE
from .tables import code_table


class NameBook:
    def __init__(self) -> None:
        self.function_of: dict[tuple[int, int], str] = {}   # (pid, code id) -> function
        self._rows: list[dict] = []
        self._app: dict[str, int] = {}                      # app-event name -> its id
        self._rolled = (0, 0)                               # rows, app names: on disk already

    def add(self, rows: list[dict]) -> None:
        self._rows.extend(rows)
        self.function_of.update(((r["pid"], r["code_id"]), r["function"]) for r in rows)

    def app_id(self, name: str) -> int:
        """The id of an app event's name (given on first sight)."""
        if name not in self._app:
            self._app[name] = APP_NAME_BASE + len(self._app)
        return self._app[name]

    @property
    def app_ids(self) -> dict[str, int]:
        return dict(self._app)

    def since_roll(self, pids: list[int]) -> pa.Table:
        """The code table of the names learnt since the last roll (not on disk yet)."""
        apps = list(self._app.items())[self._rolled[1]:]
        return code_table(self._rows[self._rolled[0]:], dict(apps), pids, {})

    def rolled(self) -> None:
        """What `since_roll` gave is on disk now."""
        self._rolled = (len(self._rows), len(self._app))

    def table(self, pids: list[int], first_line: dict[int, int]) -> pa.Table:
        """Every name, with the first lines the correlator learnt from entries."""
        return code_table(self._rows, self._app, pids, first_line)
