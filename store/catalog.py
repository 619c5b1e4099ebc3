"""The catalog of a recording: one small JSON file, rewritten atomically each
time a segment is written, listing every segment with its rows, time range
and processes — so a query opens only the segments it needs, and a recording
whose collector was killed stays readable up to its last segment.

    {"format": ..., "header": {started_ns, clock, target, host},
     "events": [{"file", "rows", "min_ns", "max_ns", "pids", "kinds"}],
     "calls":  [...same; times are call starts and ends; "events": the events
                its rows stand for (store/derive.py)...],
     "code":   [{"file", "rows"}],
     "marks":  {"<ring tag>": <records of that ring in the segments listed>}}

A roll's events and calls segments are listed in one write, so a reader (or
`scope store recover` after a kill) sees both or neither, with the marks
that say where the spill takes up (store/spill.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import RecordingError
from .derive import derived_events
from .fsutil import OutputError
from .safeopen import Folder, UnsafeEntry, folder_of

NAME = "catalog.json"
KINDS = ("events", "calls", "code")
_TIME = {"events": ("ts", "ts"), "calls": ("start_ns", "end_ns")}
MAX_CODE_IDS = 256       # per entry: keeps the catalog small enough to rewrite per segment


class Catalog:
    def __init__(self, folder: Path | Folder) -> None:
        self.folder = folder            # written in its descriptor (store/safeopen.py)
        self.path = (folder.path if isinstance(folder, Folder) else Path(folder)) / NAME
        self.data: dict = {"format": "scope-catalog", "header": {}, **{k: [] for k in KINDS}}

    def set_header(self, header: dict) -> None:
        self.data["header"] = dict(header)
        self._save()

    @classmethod
    def existing(cls, folder: Path | Folder) -> Catalog | None:
        """The catalog already in ``folder``, to change and save again."""
        data = load(folder)
        if data is None:
            return None
        cat = cls(folder)
        cat.data = {**{k: [] for k in KINDS}, **data}
        return cat

    def add_all(self, files: list[tuple[str, str, pa.Table]], **top) -> None:
        """Several segments (kind, file, table) in one write of the catalog, with
        top-level keys (``marks``: how far the rings' spill is on disk)."""
        for kind, file, table in files:
            self.data[kind].append(describe(kind, file, table))
        self.data.update(top)
        self._save()

    def replace(self, kind: str, entries: list[dict]) -> None:
        self.data[kind] = list(entries)
        self._save()

    def _save(self) -> None:
        data = json.dumps(self.data, sort_keys=True).encode() + b"\n"
        try:
            where, mine = folder_of(self.folder)
            try:
                where.write_bytes(NAME, data)
            finally:
                if mine:
                    where.close()
        except (OSError, UnsafeEntry) as exc:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise OutputError(f"cannot write {self.path}: {why}") from None


def describe(kind: str, file: str, table: pa.Table) -> dict:
    """A catalog entry: rows, time range, pids (and kinds, for events)."""
    entry: dict = {"file": file, "rows": table.num_rows}
    if kind in _TIME:
        lo_col, hi_col = _TIME[kind]
        # a call whose start (end) is unknown may have run from (until) any time
        lo = None if table[lo_col].null_count else pc.min(table[lo_col]).as_py()
        hi = None if table[hi_col].null_count else pc.max(table[hi_col]).as_py()
        entry.update(min_ns=lo, max_ns=hi, pids=sorted(pc.unique(table["pid"]).to_pylist()),
                     tids=sorted(pc.unique(table["tid"]).to_pylist()))
        codes = pc.unique(table["code_id"])
        if len(codes) <= MAX_CODE_IDS:      # more: left out (the file may hold any)
            entry["code_ids"] = sorted(codes.to_pylist())
    if kind == "calls":
        entry["events"] = derived_events(table)     # the events its rows stand for (store/derive.py)
    if kind == "events":
        entry["kinds"] = sorted(pc.unique(pc.cast(table["kind"], pa.string())).to_pylist())
    return entry


def load(folder: Path | Folder) -> dict | None:
    """The catalog of ``folder`` (None: none, or not one). Read without following
    a link: a link (or FIFO…) in its place is refused (UnsafeEntry), not skipped."""
    try:
        where, mine = folder_of(folder)
    except OSError:
        return None
    try:
        data = json.loads(where.read_bytes(NAME))
    except UnsafeEntry:
        raise
    except (OSError, ValueError, RecordingError):
        return None
    finally:
        if mine:
            where.close()
    return data if isinstance(data, dict) and data.get("format") == "scope-catalog" else None


def select(segments: list[str], entries: list[dict], lo: int | None, hi: int | None,
           kinds: tuple[str, ...] = (), code_ids: set[int] | None = None) -> list[str]:
    """The segments (in their order) that may hold rows in [lo, hi] of these kinds
    (and of these code ids, where the catalog lists a segment's).
    A segment the catalog does not describe is kept: its range is unknown (e.g.
    while `scope store compact` swaps warm segments for cold files)."""
    by_file = {e["file"]: e for e in entries}
    keep = set(overlapping(entries, lo, hi))
    out = []
    for seg in segments:
        e = by_file.get(seg)
        if e is None or (seg in keep and (not kinds or "kinds" not in e or set(kinds) & set(e["kinds"]))
                         and (code_ids is None or "code_ids" not in e or code_ids & set(e["code_ids"]))):
            out.append(seg)
    return out


def overlapping(entries: list[dict], lo: int | None, hi: int | None) -> list[str]:
    """Files whose time range meets [lo, hi] (either end may be None: open); an
    entry without a bound (unknown starts or ends in it) is kept on that side."""
    out = []
    for e in entries:
        if hi is not None and e.get("min_ns") is not None and e["min_ns"] > hi:
            continue
        if lo is not None and e.get("max_ns") is not None and e["max_ns"] < lo:
            continue
        out.append(e["file"])
    return out
