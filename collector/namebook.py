"""The names a session has learnt: code objects (from the kernel, the shim and
identity's splits), and the names of app events (marks, spans, states,
channels), which get ids of their own from SCOPE_APP_NAME_BASE.

Names reach disk at every roll (`since_roll`) and whole at the end (`table`).

Both tables are bounded (collector/bounds.py): code names by the memory they
take (``NAMES_MAX_BYTES``), app-event names by count (``APP_NAMES_MAX``). Past
the bound a new name is not held and is counted (`drops`): the calls and
events that carry its id are stored all the same, with no name (unknown).
A name already held is never evicted — its id may be in segments not yet
written — and an id seen again keeps its first name.
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

import pyarrow as pa

from .bounds import capacity, name_cost
from .images import APP_NAME_BASE
from .names import bare_name
from .tables import code_table

CODE_NAMES_FULL = "names_table_full"    # code names not held (past NAMES_MAX_BYTES)
APP_NAMES_FULL = "app_names_full"       # app-event names not given an id (past APP_NAMES_MAX)


def _key(pid: int, code: int) -> int:
    return (pid << 32) | (code & 0xFFFF_FFFF)


class Functions:
    """(pid, code id) -> the function's bare name, for the session's lookups
    (filters, the flight recorder, exception type names): a view of the book."""

    def __init__(self, held: dict[int, tuple]) -> None:
        self._held = held

    def get(self, key: tuple[int, int], default: str | None = None) -> str | None:
        row = self._held.get(_key(*key))
        return default if row is None else _function(row)

    def __contains__(self, key: tuple[int, int]) -> bool:
        return _key(*key) in self._held

    def __len__(self) -> int:
        return len(self._held)


# a held code name: (kind, file, qualname, function or None when it is qualname's
# bare name, truncated, first line or None) — a tuple, not a dict: a third the memory
def _function(row: tuple) -> str:
    return row[3] if row[3] is not None else bare_name(row[0], row[1], row[2])


def _held_row(r: dict) -> tuple:
    qualname = r.get("qualname", r["function"])
    function = r["function"]
    if function == bare_name(r["kind"], r["file"], qualname):
        function = None
    return (r["kind"], r["file"], qualname, function, r["truncated"], r.get("first_line"))


class NameBook:
    def __init__(self, max_bytes: int | None = None, max_app: int | None = None) -> None:
        """``max_bytes``/``max_app``: the bounds (default: bounds.py's, or the environment's)."""
        self.max_bytes = capacity("NAMES_MAX_BYTES") if max_bytes is None else max_bytes
        self.max_app = capacity("APP_NAMES_MAX") if max_app is None else max_app
        self._held: dict[int, tuple] = {}          # _key(pid, code id) -> _held_row
        self.function_of = Functions(self._held)   # (pid, code id) -> function
        self.bytes = 0                              # what the held names cost (bounds.name_cost)
        self._app: dict[str, int] = {}              # app-event name -> its id
        self._rolled = (0, 0)                       # names, app names: on disk already
        self.dropped = {CODE_NAMES_FULL: 0, APP_NAMES_FULL: 0}
        self._app_refused: set[str] = set()         # bounded like _app: each refused name counted once

    def add(self, rows: list[dict]) -> None:
        """Hold new name rows (decode_names' form) while they fit; count the rest."""
        for r in rows:
            key = _key(r["pid"], r["code_id"])
            if key in self._held:
                continue
            row = _held_row(r)
            cost = name_cost(row[1], row[2], row[3])
            if self.bytes + cost > self.max_bytes:
                self.dropped[CODE_NAMES_FULL] += 1
                continue
            self._held[key] = row
            self.bytes += cost

    def app_id(self, name: str) -> int:
        """The id of an app event's name (given on first sight); 0 (no name)
        once APP_NAMES_MAX names have ids."""
        found = self._app.get(name)
        if found is not None:
            return found
        if len(self._app) >= self.max_app:
            if name not in self._app_refused:
                self.dropped[APP_NAMES_FULL] += 1
                if len(self._app_refused) < self.max_app:
                    self._app_refused.add(name)
            return 0
        self._app[name] = APP_NAME_BASE + len(self._app)
        return self._app[name]

    @property
    def app_ids(self) -> dict[str, int]:
        return dict(self._app)

    def __len__(self) -> int:
        return len(self._held)

    def drops(self) -> dict[str, int]:
        """Names not held, by reason (only reasons that occurred: session.json's drops)."""
        return {k: v for k, v in self.dropped.items() if v}

    def _rows(self, start: int = 0) -> Iterator[dict]:
        for key, row in islice(self._held.items(), start, None):
            kind, file, qualname, _, truncated, first = row
            yield {"code_id": key & 0xFFFF_FFFF, "pid": key >> 32, "kind": kind, "file": file,
                   "function": _function(row), "qualname": qualname, "truncated": truncated,
                   "first_line": first}

    def since_roll(self, pids: list[int]) -> pa.Table:
        """The code table of the names learnt since the last roll (not on disk yet)."""
        apps = list(self._app.items())[self._rolled[1]:]
        return code_table(self._rows(self._rolled[0]), dict(apps), pids, {})

    def rolled(self) -> None:
        """What `since_roll` gave is on disk now."""
        self._rolled = (len(self._held), len(self._app))

    def table(self, pids: list[int], first_line: dict[int, int]) -> pa.Table:
        """Every name, with the first lines the correlator learnt from entries."""
        return code_table(self._rows(), self._app, pids, first_line)
