"""Write a recording folder: event segments as they come, the other tables at the end.

Layout::

    DIR/session.json            session metadata (written last: its presence marks
                                a finished recording)
    DIR/events/part-NNNNNN.parquet   rolled by rows, and every few seconds
    DIR/calls/part-NNNNNN.parquet    finished calls, handed out as they finish
    DIR/summaries/calls/part-NNNNNN.parquet   each calls segment's summary (store/summary.py)
    DIR/code.parquet  DIR/threads.parquet  DIR/processes.parquet  (the end)
(recordings of scope 0.1 have one DIR/calls.parquet instead of calls/)
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scope import kinds

from ..errors import RecordingError
from . import schema, summary
from .build import events_table
from .catalog import Catalog
from .derive import D_CALL, derived_events
from .fsutil import OutputError, hold_lock, make_private_dir, remove_tree
from .hot import HotTier
from .safeopen import Folder, UnsafeEntry

# row groups: Parquet statistics let a read skip the others. Calls small, for
# `--at` (one group read per segment); events larger, for compression (a
# second of a busy target is already ~10^5 events)
ROW_GROUP = {"calls": 131_072, "events": 1_048_576}
# near-monotonic integers: delta encoding (10x smaller than a dictionary that
# overflows into PLAIN, and faster to read); the rest dictionary-encoded
DELTA = {"events": ("ts",), "calls": ("call_id", "parent_id", "start_ns", "end_ns")}


def write_parquet(table: pa.Table, path, kind: str | None = None) -> None:
    """One Parquet file as scope writes them: zstd, and per table kind its row
    group size and column encodings."""
    delta = [c for c in DELTA.get(kind, ()) if c in table.column_names]
    pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP.get(kind),
                   use_dictionary=[c for c in table.column_names if c not in delta] if delta else True,
                   column_encoding={c: "DELTA_BINARY_PACKED" for c in delta} or None)


def _calls_within(calls: pa.Table, lo_ns: int) -> pa.Table:
    """Calls kept in a window from lo_ns: a row that started before it no longer
    stands for its call event (which the window leaves out)."""
    if not calls.num_rows:
        return calls
    before = pc.fill_null(pc.less(calls["start_ns"], lo_ns), False)
    bits = pc.fill_null(calls["derived"], 0)
    bits = pc.if_else(before, pc.bit_wise_and(bits, pa.scalar(~D_CALL, pa.int8())), bits)
    return calls.set_column(calls.schema.get_field_index("derived"), "derived", bits)


def _opened(folder: Path) -> Folder:
    try:
        return Folder.open(folder)
    except OSError as exc:
        raise OutputError(f"cannot open {folder}: {exc.strerror}") from None


class RecordingWriter:
    """Writes one recording folder; every file appears only when complete.

    Events and finished calls wait in the hot tier (``self.hot``) until a
    segment rolls: at ``segment_rows`` rows or ``segment_bytes`` bytes, or when
    the session flushes (every few seconds). With ``hold`` (a flight recorder)
    nothing reaches disk: the hot tier keeps the last ``window_ns`` until
    ``release`` writes that window, or ``discard`` removes the folder.
    """

    def __init__(self, folder: Path, *, segment_rows: int = 2_000_000, segment_bytes: int = 256 << 20,
                 hold: bool = False, window_ns: int | None = None, hold_bytes: int = 2 << 30,
                 auto_flush: bool = True):
        self.folder = make_private_dir(Path(folder))
        # every file is written relative to the folder's descriptor, no link followed
        # (store/safeopen.py): the folder is the sudo user's, who may plant links in it
        self.dir = _opened(self.folder)
        self._lock: int | None = hold_lock(self.dir)   # released by write_session/close
        self._mkdir("events")                           # present from the start, even if empty
        self.segment_rows = segment_rows
        self.segment_bytes = segment_bytes
        self.hold = hold
        self.auto_flush = auto_flush     # False: the caller flushes when `full` (a session: at its rolls)
        self.marks: Callable[[], dict] | None = None   # saved with each segment's listing (store/spill.py)
        self._batch: list | None = None  # segments written in a flush, listed together at its end
        self.hot = HotTier({"events": schema.EVENTS, "calls": schema.CALLS}, window_ns=window_ns,
                           max_bytes=hold_bytes if hold else None)
        self.segments: list[str] = []
        self.calls_segments: list[str] = []
        self.bytes_written = 0
        self.events_written = 0
        self.catalog = Catalog(self.dir)
        self._header: dict | None = None
        self.code_segments: list[str] = []
        self.not_written = {"events": 0, "calls": 0}   # rows a failed write lost (e.g. a full disk)
        self.write_failure: str | None = None           # why the first such write failed
        self.summary_failures = 0                       # calls segments left without a summary

    @classmethod
    def resume(cls, folder: Path) -> RecordingWriter:
        """A writer for the recording in ``folder`` whose collector was killed, to
        add segments after the ones its catalog lists (`scope store recover`)."""
        w = cls(folder)
        cat = Catalog.existing(w.dir)
        if cat is None or not cat.data.get("header"):
            w.close()
            raise RecordingError(f"{folder} has no catalog to go on from", "it is not an unfinished recording")
        w.catalog = cat
        w._header = dict(cat.data["header"])
        w.segments = [e["file"] for e in cat.data["events"]]
        w.calls_segments = [e["file"] for e in cat.data["calls"]]
        w.code_segments = [e["file"] for e in cat.data["code"]]
        return w

    @property
    def header(self) -> dict:
        """What a reader needs if this collector never finishes (set_header)."""
        return dict(self._header or {})

    def set_header(self, header: dict) -> None:
        """What a reader needs if this writer never finishes (kept back while holding)."""
        self._header = dict(header)
        if not self.hold:
            self.catalog.set_header(header)

    def add_events(self, ev: np.ndarray | pa.Table) -> None:
        """Events to the hot tier; records marked kinds.F_DERIVED are left out
        (their calls rows stand for them: store/derive.py)."""
        if not isinstance(ev, pa.Table):
            derived = (ev["flags"] & kinds.F_DERIVED) != 0
            if derived.any():
                ev = ev[~derived]
            if not len(ev):
                return
        table = ev if isinstance(ev, pa.Table) else events_table(ev)
        self.hot.add("events", table)
        if self.auto_flush and self.full:
            self.flush()

    @property
    def full(self) -> bool:
        """The hot tier holds a segment's worth (never while holding a window)."""
        return not self.hold and (max(self.hot.rows["events"], self.hot.rows["calls"]) >= self.segment_rows
                                  or self.hot.total_bytes() >= self.segment_bytes)

    def add_calls(self, table: pa.Table) -> None:
        """Finished calls (and spans): with the next segment of events."""
        self.hot.add("calls", table)

    def flush(self) -> None:
        """The hot tier to warm segments (one for events, one for calls), listed
        in the catalog together: a reader sees both or neither."""
        self._batch = []
        failed = None
        try:
            try:
                self.flush_events()
            except OutputError as exc:     # counted; the calls are still written (or counted)
                failed = exc
            if not self.hold:
                calls = self.hot.take("calls")
                if calls.num_rows:
                    self._segment("calls", calls, self.calls_segments)
        finally:
            batch, self._batch = self._batch, None
            if batch:
                self._list(batch)
        if failed is not None:
            raise failed

    def _list(self, segments: list[tuple[str, str, pa.Table]]) -> None:
        """Into the catalog; with a flush's events or calls segment (the hot tier
        is taken whole: every event and finished call handed in so far), the marks
        of that moment too. The events a calls row stands for (store/derive.py)
        count only once its segment is on disk."""
        flushed = any(kind in ("events", "calls") for kind, _, _ in segments)
        self.catalog.add_all(segments, **({"marks": self.marks()} if flushed and self.marks is not None else {}))

    def flush_events(self) -> None:
        if self.hold or not self.hot.rows["events"]:
            return
        table = self.hot.take("events")
        # rows sorted by time within a segment (the kernel's events and the rings
        # arrive side by side); mostly sorted already, so check before sorting
        ts = table["ts"].to_numpy()
        if len(ts) > 1 and not (ts[1:] >= ts[:-1]).all():
            table = table.take(np.argsort(ts, kind="stable"))
        self._segment("events", table, self.segments)
        self.events_written += table.num_rows

    def release(self, lo_ns: int, hi_ns: int) -> dict[str, int]:
        """A flight recorder fired: write the window [lo, hi] held in the hot tier
        and record normally from now on. Returns the rows left out, by table."""
        cut = {}
        for kind, col in (("events", "ts"), ("calls", "end_ns")):
            t = self.hot.take(kind)
            when = t[col]
            inside = pc.and_kleene(pc.greater_equal(when, lo_ns), pc.less_equal(when, hi_ns))
            if kind == "calls":      # a call still running at the end: no end yet
                inside = pc.or_kleene(inside, pc.is_null(when))
            kept = t.filter(pc.fill_null(inside, False))
            if kind == "calls":
                kept = _calls_within(kept, lo_ns)
            cut[kind] = t.num_rows - kept.num_rows + self.hot.evicted[kind]
            self.hot.add(kind, kept)
        self.hold = False
        if self._header is not None:
            self.catalog.set_header(self._header)
        self.flush()
        return cut

    def discard(self) -> None:
        """Nothing is to be kept (a flight recorder that never fired): the folder goes."""
        self.close()
        remove_tree(self.folder)

    def add_code(self, table: pa.Table) -> None:
        """Names learnt since the last segment, so an unfinished recording keeps them."""
        if table.num_rows and not self.hold:
            self._segment("code", table, self.code_segments)

    def _segment(self, kind: str, table: pa.Table, written: list[str]) -> None:
        """DIR/kind/part-NNNNNN.parquet, listed in `written` and in the catalog; rows
        a failed write loses are counted (`not_written`), never silently gone."""
        rel = f"{kind}/part-{len(written):06d}.parquet"
        try:
            self._write_table(table, rel, kind)
        except OutputError as exc:
            if kind in self.not_written:
                self.not_written[kind] += table.num_rows
                if kind == "calls":      # and the events its rows stood for
                    self.not_written["events"] += derived_events(table)
                self.write_failure = self.write_failure or str(exc)
            raise
        written.append(rel)
        if kind == "calls":
            self._summary(rel, table)
            self.events_written += derived_events(table)
        if self._batch is not None:
            self._batch.append((kind, rel, table))
        else:
            self._list([(kind, rel, table)])

    def _summary(self, rel: str, table: pa.Table) -> None:
        """The segment's summary (store/summary.py), for a fast --top; one that
        cannot be written only makes --top read this segment's rows."""
        try:
            self._write_table(summary.summarize(table), summary.location(rel))
        except (OutputError, OSError, pa.ArrowException):
            self.summary_failures += 1

    def write_table(self, name: str, table: pa.Table) -> None:
        self._write_table(table, name)

    def _write_table(self, table: pa.Table, rel: str, kind: str | None = None) -> None:
        """DIR/rel, atomically, in the folder's descriptor (its subfolders made 0700)."""
        try:
            with self.dir.writing(rel) as tmp:
                write_parquet(table, tmp, kind)
                self.bytes_written += os.stat(tmp).st_size
        except (OSError, UnsafeEntry) as exc:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise OutputError(f"cannot write {self.folder / rel}: {why}") from None

    def _mkdir(self, rel: str) -> None:
        try:
            self.dir.sub(rel, create=True).close()
        except (OSError, UnsafeEntry) as exc:
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise OutputError(f"cannot create folder {self.folder / rel}: {why}") from None

    def write_session(self, meta: dict, *, flush: bool = True) -> None:
        """session.json, last (after what is still pending, unless flush=False)."""
        if flush:
            self.flush()
        meta = dict(meta, format=schema.FORMAT, schema_version=schema.SCHEMA_VERSION,
                    segments=list(self.segments), calls_segments=list(self.calls_segments))
        data = json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n"
        try:
            self.dir.write_bytes("session.json", data)
        except OSError as exc:
            raise OutputError(f"cannot write {self.folder / 'session.json'}: {exc.strerror}") from None
        self.bytes_written += len(data)
        self.close()

    def close(self) -> None:
        """Release the folder: the recording is no longer being written."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
