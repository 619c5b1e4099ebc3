"""Open a recording folder for reading; validate first, fail with a clear message."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ..errors import RecordingError
from . import catalog, schema, summary, validate
from . import derive as derive_mod
from .safeopen import Folder, UnsafeEntry

_FIX = "give a folder written by `scope attach` or `scope run` (see ./scope-recordings/)"


@dataclass
class Recording:
    folder: Path
    meta: dict
    # the time "seconds from the start" count from, in this recording's monotonic
    # clock: its own start, or, read beside others, the earliest one's (fleet.align)
    origin_ns: int | None = None
    _code: pa.Table | None = field(default=None, repr=False, compare=False)
    _from_code: dict = field(default_factory=dict, repr=False, compare=False)
    _dir: Folder | None = field(default=None, repr=False, compare=False)

    @property
    def dir(self) -> Folder:
        """The folder, open: every file of it is read through this descriptor,
        no link followed (store/safeopen.py)."""
        if self._dir is None:
            self._dir = Folder.open(self.folder)
        return self._dir

    def pinned(self, rel: str) -> str:
        """``/proc/self/fd/N`` of DIR/rel, checked (a regular file, no link) and
        held open until ``self.dir.unpin()``: what DuckDB is given (store/sql.py)."""
        try:
            return self.dir.pin(rel)
        except (FileNotFoundError, NotADirectoryError):
            raise RecordingError(f"{self.folder / rel} is missing from the recording", _FIX) from None

    def has(self, rel: str) -> bool:
        """Is there anything named ``rel`` (a link too: reading it is then refused)?"""
        return self.dir.exists(rel)

    @property
    def start_ns(self) -> int:
        return int(self.meta["started_ns"]) if self.origin_ns is None else self.origin_ns

    @property
    def anchor(self) -> tuple[int, int]:
        clock = self.meta["clock"]
        return int(clock["monotonic_ns"]), int(clock["realtime_ns"])

    def _read(self, rel: str, table_schema: pa.Schema, filters=None, columns=None) -> pa.Table:
        """The table DIR/rel, its types and times checked (store/validate.py); the
        file opened without following a link, pyarrow given the checked inode."""
        path = self.folder / rel
        try:
            with self.dir.reading(rel) as src:
                try:
                    validate.check_types(str(path), pq.read_schema(src), table_schema)
                    table = pq.read_table(src, schema=table_schema, filters=filters, columns=columns)
                except (OSError, pa.ArrowException) as exc:
                    first = str(exc).replace(src, str(path)).splitlines()[0]
                    raise RecordingError(f"{path} is damaged ({first})",
                                         "the rest of the recording is intact; query another table") from None
        except (FileNotFoundError, NotADirectoryError):
            raise RecordingError(f"{path} is missing from the recording", _FIX) from None
        validate.check_times(str(path), table)
        validate.check_text(str(path), table)
        return table

    def _catalog(self) -> dict | None:
        """The catalog, to skip files a query cannot need; one that does not pass
        its checks is not used (every listed file is read: slower, never wrong)."""
        try:
            cat = catalog.load(self.dir)
            if cat is not None:
                validate.check_catalog(self.folder, cat)
        except UnsafeEntry:
            raise
        except RecordingError:
            return None
        return cat

    @property
    def unfinished(self) -> bool:
        """Its collector never finished it (killed): readable up to its last segment."""
        return bool(self.meta.get("unfinished"))

    @property
    def derives(self) -> bool:
        """Its calls rows stand for a shim ring's plain call and return events
        (schema 2: store/derive.py)."""
        version = self.meta.get("schema_version", 0)
        return isinstance(version, int) and version >= 2

    def events(self, lo: int | None = None, hi: int | None = None, *,
               kinds: tuple[str, ...] = (), code_ids: set[int] | None = None,
               columns: list[str] | None = None, derive: bool = True) -> pa.Table:
        """Every event, by time; with lo/hi (monotonic ns), kinds or code ids, only
        the segments the catalog says may hold them are opened, and only their rows
        in [lo, hi] of those code ids are read (other filters are the caller's).
        The call and return events the calls rows stand for are derived from them
        (store/derive.py); ``derive=False``: only the events stored as such."""
        stored = self._stored_events(lo, hi, kinds=kinds, code_ids=code_ids, columns=columns)
        want = derive_mod.wanted(kinds)
        if not derive or not want or not self.derives:
            return stored
        calls = self.calls(lo, hi, code_ids=code_ids, where=derive_mod.where(lo, hi, want),
                           columns=derive_mod.CALL_COLUMNS)
        derived = derive_mod.events_of(calls, self.from_code(derive_mod.first_lines), lo, hi, want, columns)
        return derive_mod.merge(stored, derived)

    def _stored_events(self, lo: int | None, hi: int | None, *, kinds: tuple[str, ...],
                       code_ids: set[int] | None, columns: list[str] | None) -> pa.Table:
        segments = self.meta.get("segments", [])
        if lo is not None or hi is not None or kinds or code_ids is not None:
            cat = self._catalog()
            if cat is not None:
                segments = catalog.select(segments, cat["events"], lo, hi, kinds, code_ids)
        # events always have a time: Parquet statistics skip the row groups outside [lo, hi]
        bounds = [("ts", op, v) for op, v in ((">=", lo), ("<=", hi)) if v is not None]
        if code_ids is not None:
            bounds.append(("code_id", "in", sorted(code_ids)))
        bounds = bounds or None
        parts = [self._read(seg, schema.EVENTS, bounds, columns) for seg in segments]
        if parts:
            return pa.concat_tables(parts)
        empty = schema.EVENTS.empty_table()
        return empty.select(columns) if columns else empty

    def calls(self, lo: int | None = None, hi: int | None = None, *,
              running_at: int | None = None, by_start: bool = False,
              columns: list[str] | None = None, code_ids: set[int] | None = None,
              where=None, only: set[str] | None = None) -> pa.Table:
        """Every call; with lo/hi only the segments holding calls that ran then
        (catalog). Pushed down to the row groups (Parquet statistics): with
        running_at, only calls entered by then and not returned by then (no end
        yet counts as running); with by_start, only calls that started in
        [lo, hi] (ended there, when the start is unknown); with code_ids, only
        theirs; ``where``: any further pyarrow.dataset expression over its columns;
        ``only``: of these segments only (the others are someone else's: summaries)."""
        lo, hi, where = calls_predicate(lo, hi, running_at=running_at, by_start=by_start,
                                        code_ids=code_ids, where=where)
        segments = self.meta.get("calls_segments") or []
        if not segments and self.has("calls.parquet"):   # one file (scope 0.1)
            return self._read("calls.parquet", schema.CALLS, where, columns)
        pruning = lo is not None or hi is not None or code_ids is not None
        cat = self._catalog() if pruning else None
        if cat is not None:
            segments = catalog.select(segments, cat["calls"], lo, hi, code_ids=code_ids)
        if only is not None:
            segments = [seg for seg in segments if seg in only]
        parts = [self._read(seg, schema.CALLS, where, columns) for seg in segments]
        if parts:
            return pa.concat_tables(parts)
        empty = schema.CALLS.empty_table()
        return empty.select(columns) if columns else empty

    def calls_entries(self) -> list[dict] | None:
        """For each calls segment listed, in order: its catalog entry (rows, time
        range), or — without a usable catalog — its rows from the file's footer
        (no time range: known to lie inside only an unbounded one). None: the
        calls are not in segments (scope 0.1), or a footer does not read."""
        segments = self.meta.get("calls_segments") or []
        if not segments:
            return None
        cat = self._catalog()
        by_file = {e["file"]: e for e in cat["calls"]} if cat is not None else {}
        out = []
        for seg in segments:
            entry = by_file.get(seg)
            if entry is None:
                try:
                    with self.dir.reading(seg) as src:
                        entry = {"file": seg, "rows": pq.ParquetFile(src).metadata.num_rows}
                except (OSError, pa.ArrowException):
                    return None
            out.append(entry)
        return out

    def summary(self, segment: str) -> pa.Table | None:
        """A calls segment's summary (store/summary.py), if it has one that reads
        as one; None otherwise (the segment is then read row by row)."""
        rel = summary.location(segment)
        if not self.has(rel):
            return None
        try:
            return self._read(rel, summary.SCHEMA)
        except UnsafeEntry:
            raise           # a link where a summary belongs: refused, not read around
        except RecordingError:
            return None

    def threads(self) -> pa.Table:
        if self.unfinished:
            return schema.THREADS.empty_table()
        return self._read("threads.parquet", schema.THREADS)

    def processes(self) -> pa.Table:
        if self.unfinished and not self.has("processes.parquet"):
            return schema.PROCESSES.empty_table()
        return self._read("processes.parquet", schema.PROCESSES)

    def code(self) -> pa.Table:
        if not self.unfinished:        # written once at the end: read it once
            if self._code is None:
                self._code = self._read("code.parquet", schema.CODE)
            return self._code
        if self.has("code.parquet"):
            return self._read("code.parquet", schema.CODE)
        parts = [self._read(seg, schema.CODE) for seg in self.meta.get("code_segments", [])]
        return pa.concat_tables(parts) if parts else schema.CODE.empty_table()

    def from_code(self, fn):
        """``fn(self.code())``, worked out once for a finished recording (its code
        table never changes); afresh while it is being written."""
        if self.unfinished:
            return fn(self.code())
        if fn not in self._from_code:
            self._from_code[fn] = fn(self.code())
        return self._from_code[fn]

    def offcpu(self) -> pa.Table:
        return self._optional("offcpu.parquet", schema.OFFCPU, "off-CPU intervals", "--offcpu")

    def syscalls(self) -> pa.Table:
        return self._optional("syscalls.parquet", schema.SYSCALLS, "system calls", "--syscalls [LIST]")

    def _optional(self, name: str, sch: pa.Schema, what: str, option: str) -> pa.Table:
        """A table recorded only with an option: a clear error naming it when absent."""
        if not self.has(name):
            raise RecordingError(f"{self.folder} has no {what}",
                                 f"record with {option} (scope attach/run {option})")
        return self._read(name, sch)

    def messages(self) -> pa.Table:
        name = "messages.parquet"
        return self._read(name, schema.MESSAGES) if self.has(name) else schema.MESSAGES.empty_table()


def calls_predicate(lo: int | None, hi: int | None, *, running_at: int | None = None, by_start: bool = False,
                    code_ids: set[int] | None = None, where=None):
    """(lo, hi, expression) for `Recording.calls`: the pyarrow.dataset filter its
    options mean, pushed down to the files (and applied as it is to rows held in
    memory: store.live)."""

    def both(a, b):
        return b if a is None else a & b
    if running_at is not None:
        if lo is None and hi is None:
            lo = hi = running_at
        where = both(where, (ds.field("start_ns") <= running_at) & (
            (ds.field("end_ns") > running_at) | ds.field("end_ns").is_null()))
    elif by_start and (lo is not None or hi is not None):
        def within(col):
            expr = ds.field(col).is_valid()
            expr = expr & (ds.field(col) >= lo) if lo is not None else expr
            return expr & (ds.field(col) <= hi) if hi is not None else expr
        where = both(where, within("start_ns") | (ds.field("start_ns").is_null() & within("end_ns")))
    if code_ids is not None:
        where = both(where, ds.field("code_id").isin(sorted(code_ids)))
    return lo, hi, where


def open_recording(path: Path | str) -> Recording:
    """Validate ``path`` as a recording and return it: a finished one, or one whose
    collector was killed (read through its catalog; ``Recording.unfinished``)."""
    folder = Path(path)
    if not folder.exists() and not folder.is_symlink():
        raise RecordingError(f"{folder} does not exist", _FIX)
    if not folder.is_dir() and not folder.is_symlink():
        raise RecordingError(f"{folder} is a file, not a recording folder", _FIX)
    d = Folder.open(folder)       # a link in the folder's place is refused (store/safeopen.py)
    meta_path = folder / "session.json"
    if not d.exists("session.json"):
        cat = catalog.load(d)
        if (cat is None or not cat.get("header")) and d.exists("live.sock"):
            raise RecordingError(f"{folder} is being recorded by a flight recorder: nothing is on "
                                 "disk until a trigger fires", "read what it holds with --live")
        if cat is None or not cat.get("header"):
            raise RecordingError(f"{folder} is not a scope recording (no session.json; "
                                 "unfinished or not a recording)", _FIX)
        return _unfinished(folder, cat, d)
    try:
        meta = json.loads(d.read_bytes("session.json"))
    except (OSError, ValueError) as exc:
        raise RecordingError(f"{meta_path} is unreadable ({exc})", _FIX) from None
    if not isinstance(meta, dict) or meta.get("format") != schema.FORMAT:
        raise RecordingError(f"{folder} is not a scope recording", _FIX)
    version = meta.get("schema_version", 0)
    if not isinstance(version, int):
        raise RecordingError(f"{meta_path}: schema_version is {str(version)[:40]!r}, not a number", validate.FIX)
    if version > schema.SCHEMA_VERSION:
        raise RecordingError(f"{folder} was written by a newer scope (schema "
                             f"{meta['schema_version']}, this scope reads {schema.SCHEMA_VERSION})",
                             "upgrade scope to read it")
    validate.check_meta(folder, meta, str(meta_path))
    return Recording(folder, meta, _dir=d)


def _unfinished(folder: Path, cat: dict, d: Folder) -> Recording:
    """A recording whose collector was killed: what its catalog lists."""
    validate.check_catalog(folder, cat)
    ends = [e["max_ns"] for e in cat["events"] + cat["calls"] if e.get("max_ns") is not None]
    meta = dict(cat["header"], format=schema.FORMAT, schema_version=schema.SCHEMA_VERSION,
                unfinished=True, stopped_ns=max(ends, default=cat["header"].get("started_ns", 0)),
                segments=[e["file"] for e in cat["events"]],
                calls_segments=[e["file"] for e in cat["calls"]],
                code_segments=[e["file"] for e in cat["code"]])
    return Recording(folder, meta, _dir=d)
