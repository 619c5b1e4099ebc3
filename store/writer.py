"""Write a recording folder: event segments as they come, the other tables at the end.

Layout::

    DIR/session.json            session metadata (written last: its presence marks
                                a finished recording)
    DIR/events/part-NNNNNN.parquet
    DIR/calls.parquet  DIR/code.parquet  DIR/threads.parquet  DIR/processes.parquet
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from scope import kinds

from . import schema
from .fsutil import atomic_file, make_private_dir, write_bytes_atomic

KIND_DICTIONARY = pa.array([kinds.NAMES.get(i, f"kind_{i}") for i in range(max(kinds.NAMES) + 1)])


def events_table(ev: np.ndarray) -> pa.Table:
    """Arrow table of the events in a ``scope_event`` record array."""
    kind = pa.DictionaryArray.from_arrays(pa.array(ev["kind"].astype(np.int8)), KIND_DICTIONARY)
    return pa.Table.from_arrays([
        pa.array(ev["ts"].astype(np.int64)),
        pa.array(ev["pid"].astype(np.int32)),
        pa.array(ev["tid"].astype(np.int32)),
        kind,
        pa.array(ev["code"].astype(np.uint32)),
        pa.array(ev["line"].astype(np.int32)),
        pa.array(ev["arg"].astype(np.int32)),
    ], schema=schema.EVENTS)


def calls_table(cols: dict) -> pa.Table:
    """Arrow table from Correlator.to_columns() (-1 marks nulls)."""
    def nullable(name, typ):
        values = np.asarray(cols[name])
        return pa.array(values, type=typ, mask=values < 0)
    status = pa.array(cols["status"], type=pa.string()).dictionary_encode()
    status = status.cast(pa.dictionary(pa.int8(), pa.string()))
    return pa.Table.from_arrays([
        pa.array(cols["call_id"], type=pa.int64()),
        nullable("parent_id", pa.int64()),
        nullable("depth", pa.int32()),
        pa.array(cols["pid"], type=pa.int32()),
        pa.array(cols["tid"], type=pa.int32()),
        pa.array(cols["code_id"], type=pa.uint32()),
        nullable("start_ns", pa.int64()),
        nullable("end_ns", pa.int64()),
        nullable("duration_ns", pa.int64()),
        nullable("self_ns", pa.int64()),
        status,
    ], schema=schema.CALLS)


class RecordingWriter:
    """Writes one recording folder; every file appears only when complete."""

    def __init__(self, folder: Path, *, segment_rows: int = 2_000_000):
        self.folder = make_private_dir(Path(folder))
        self.events_dir = make_private_dir(self.folder / "events")
        self.segment_rows = segment_rows
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self.segments: list[str] = []
        self.bytes_written = 0
        self.events_written = 0

    def add_events(self, ev: np.ndarray) -> None:
        if len(ev):
            self._pending.append(ev)
            self._pending_rows += len(ev)
            if self._pending_rows >= self.segment_rows:
                self.flush_events()

    def flush_events(self) -> None:
        if not self._pending:
            return
        ev = np.concatenate(self._pending)
        self._pending, self._pending_rows = [], 0
        name = f"part-{len(self.segments):06d}.parquet"
        self._write_table(events_table(ev), self.events_dir / name)
        self.segments.append(f"events/{name}")
        self.events_written += len(ev)

    def write_table(self, name: str, table: pa.Table) -> None:
        self._write_table(table, self.folder / name)

    def _write_table(self, table: pa.Table, path: Path) -> None:
        with atomic_file(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self.bytes_written += path.stat().st_size

    def write_session(self, meta: dict) -> None:
        meta = dict(meta, format=schema.FORMAT, schema_version=schema.SCHEMA_VERSION,
                    segments=list(self.segments))
        data = json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n"
        write_bytes_atomic(self.folder / "session.json", data)
        self.bytes_written += len(data)
