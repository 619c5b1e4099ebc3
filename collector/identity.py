"""Same-named functions told apart on the marker path.

The kernel side interns a code object by the addresses of its file and name
strings, and CPython shares one string object for equal names: a property's
getter and setter, three ``__init__`` in one file, nested ``callback``s and
lambdas would all come out as one function. Each call/return record carries a
line, though (the entry's first line, or the line a return ran at), and that
line lies in the body of exactly one of the definitions of that name in the
file's source (collector/sourcedefs.py, read as the target could:
collector/sources.py). So, before correlation, each record of such a name gets
the id of its own definition (SCOPE_SPLIT_ID_BASE upwards), whose name row
carries its qualified name and first line. A name defined once in its file
gets those from the source too.

Where it cannot tell — the source is gone, unreadable, too large, in a newer
syntax, or the name is also a class (its entry has no line), or two
definitions share their lines (``f = lambda: 1; g = lambda: 2``) — the records
keep the kernel's id, and `summary()` says how many and why. A call whose
line lies outside every definition (the file changed since it was imported)
keeps the kernel's id too, and is counted.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

import numpy as np

from .. import kinds
from ..probes.layout import header_constants
from .bounds import SOURCE_FILES_MAX, SPLITS_MAX
from .sourcedefs import Def, resolve, separable
from .sources import Place, read_definitions

_C = header_constants()
SPLIT_BASE = _C["SCOPE_SPLIT_ID_BASE"]
BATCH_S = 1.0       # the longest one poll waits for sources to be read
BUDGET_S = 10.0     # the most a recording spends reading sources; later names keep the kernel's ids


@dataclass
class _Split:
    """A kernel code id whose name the file defines several times."""
    defs: list[Def]
    ids: np.ndarray           # the id of each definition
    row: dict                 # the kernel's name row (template of the new ones)
    announced: np.ndarray     # bool: its name row was handed out


class Identity:
    """Owns what was learnt from the sources: which kernel code ids stand for
    several functions, and the ids given to each."""

    def __init__(self, reader: Callable = read_definitions, budget_s: float = BUDGET_S) -> None:
        self._reader = reader
        self._budget = budget_s
        self._places: dict[int, Place] = {}     # pid -> where its names resolve, held open
        self._cache: dict[tuple, dict[str, list[Def]] | str] = {}
        self._splits: dict[tuple[int, int], _Split] = {}
        self._next = SPLIT_BASE
        self.named = 0            # code names given a qualified name and first line from their source
        self.told_apart = 0       # names split into several functions
        self.unresolved: dict[str, int] = {}    # code names left as the kernel gave them, by reason
        self.outside = 0          # call records whose line lay in no definition of their name

    def remember(self, pid: int, root: str | None = None) -> None:
        """Hold where `pid`'s names resolve, now (the target at attach; `root`:
        a launcher's folder that will be its root)."""
        self.hold(pid, Place.of(pid, root))

    def inherit(self, child: int, parent: int) -> None:
        """A forked child resolves names where its parent did (until seen itself)."""
        if parent in self._places and child not in self._places:
            self._places[child] = self._places[parent]

    def hold(self, pid: int, place: Place | None) -> Place | None:
        """Resolve `pid`'s names at `place` from now on (None: keep the one held)."""
        if place is None:
            return self._places.get(pid)
        old = self._places.get(pid)
        if old is not None and old.key == place.key:
            place.close()
            return old
        if old is not None and old not in self._places.values():
            old.close()
        self._places[pid] = place
        return place

    def _place(self, pid: int) -> Place | None:
        """The process's place now if it still runs, else the one held for it."""
        return self.hold(pid, Place.of(pid))

    def close(self) -> None:
        """Let go of every place held (at the end of the recording)."""
        for place in {id(p): p for p in self._places.values()}.values():
            place.close()
        self._places.clear()

    @staticmethod
    def _marker_code(row: dict) -> bool:
        return (row["kind"] == "code" and bool(row["file"]) and not row["truncated"]
                and row["code_id"] < SPLIT_BASE and not row["file"].startswith("<"))

    def _sources(self, rows: list[dict]) -> dict[tuple[int, str], dict[str, list[Def]] | str]:
        """Each (pid, file)'s definitions, read once per place and file."""
        pairs = list(dict.fromkeys((r["pid"], r["file"]) for r in rows))     # in order, once
        places = {pid: self._place(pid) for pid, _ in pairs}
        wanted: dict[int, list[str]] = {}
        for pid, file in pairs:
            place = places[pid]
            if place is not None and (place.key, file) not in self._cache:
                wanted.setdefault(pid, []).append(file)
        for pid, files in wanted.items():
            if self._budget <= 0:
                found = {f: "budget" for f in files}
            else:
                began = time.monotonic()
                found = self._reader(places[pid], files, min(BATCH_S, self._budget))
                self._budget -= time.monotonic() - began
            for file in files:
                self._cache[(places[pid].key, file)] = found.get(file, "unreadable")
        out = {(pid, file): "gone" if places[pid] is None else self._cache.get((places[pid].key, file), "budget")
               for pid, file in pairs}
        self._trim_cache()
        return out

    def _trim_cache(self) -> None:
        """Hold at most SOURCE_FILES_MAX files' answers, the oldest going first
        (read again if a name needs one later, within the budget); "budget"
        answers are not held at all: past the budget every file answers so."""
        for key in [k for k, v in self._cache.items() if v == "budget"]:
            del self._cache[key]
        for key in list(islice(self._cache, max(len(self._cache) - SOURCE_FILES_MAX, 0))):
            del self._cache[key]

    def learn(self, rows: list[dict]) -> None:
        """New name rows from the kernel: those of a name defined once get its
        qualified name and first line (in place); those of a name defined
        several times are split at their records (`apply`)."""
        rows = [r for r in rows if self._marker_code(r)]
        for r in rows:
            if r["function"] == "<module>":      # one per file, its co_firstlineno always 1
                r["qualname"], r["first_line"] = "<module>", 1
                self.named += 1
        rows = [r for r in rows if r["function"] != "<module>"]
        if not rows:
            return
        sources = self._sources(rows)
        for r in rows:
            found = sources[(r["pid"], r["file"])]
            if isinstance(found, str):
                self.unresolved[found] = self.unresolved.get(found, 0) + 1
                continue
            defs = found.get(r["function"], [])
            if len(defs) == 1:
                r["qualname"], r["first_line"] = defs[0].qualname, defs[0].first_line
                self.named += 1
                continue
            apart = separable(defs)
            if not apart or len(self._splits) >= SPLITS_MAX:
                why = ("not in its source" if not defs else "cannot be told apart" if not apart
                       else "too many split names")      # bounds.SPLITS_MAX names split already
                self.unresolved[why] = self.unresolved.get(why, 0) + 1
                continue
            ids = np.arange(self._next, self._next + len(apart), dtype=np.uint32)
            self._next += len(apart)
            self._splits[(r["pid"], r["code_id"])] = _Split(apart, ids, dict(r), np.zeros(len(apart), bool))
            self.told_apart += 1

    def apply(self, ev: np.ndarray) -> tuple[np.ndarray, list[dict]]:
        """The kernel's events with each split name's calls and returns given
        their own definition's id; and the name rows of ids used for the first
        time (to be added before the events are read)."""
        if not self._splits or not len(ev):
            return ev, []
        calls = (ev["kind"] == kinds.CALL) | (ev["kind"] == kinds.RETURN)
        codes = np.array([c for _, c in self._splits], dtype=ev["code"].dtype)
        idx = np.flatnonzero(calls & np.isin(ev["code"], codes))
        if not len(idx):
            return ev, []
        ev = ev.copy()
        rows: list[dict] = []
        pids, code = ev["pid"][idx], ev["code"][idx]
        for pid, c in {(int(p), int(k)) for p, k in zip(pids, code)}:
            split = self._splits.get((pid, c))
            if split is None:
                continue
            at = idx[(pids == pid) & (code == c)]
            which = resolve(split.defs, ev["line"][at])
            self.outside += int((which < 0).sum())
            ev["code"][at[which >= 0]] = split.ids[which[which >= 0]]
            for i in np.unique(which[which >= 0]):
                if not split.announced[i]:
                    split.announced[i] = True
                    d = split.defs[i]
                    rows.append(dict(split.row, code_id=int(split.ids[i]), qualname=d.qualname,
                                     first_line=d.first_line))
        return ev, rows

    def summary(self) -> dict:
        """What session.json says about it."""
        return {"named_from_source": self.named, "told_apart": self.told_apart,
                "functions_made": int(self._next - SPLIT_BASE), "unresolved": dict(self.unresolved),
                "records_outside": self.outside}
