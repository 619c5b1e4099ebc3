"""Build small recordings through the real writer from synthetic events."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from scope.collector.correlate import Correlator
from scope.store import schema
from scope.store.writer import RecordingWriter, calls_table

from .streams import feed, to_records

START = 1_000_000_000  # monotonic ns of the recording's start


def write_recording(folder: Path, events, code: dict[int, tuple[str, str]], *, segment_rows=1000,
                    start: int = START, realtime_ns: int = 1_700_000_000 * 10**9, host: str = "test") -> Path:
    """events: (ts, tid, kind, code) tuples; code: id -> (function, file); the
    session started at monotonic `start`, which was wall time `realtime_ns`."""
    records = to_records(events)
    w = RecordingWriter(folder, segment_rows=segment_rows)
    w.add_events(records)
    w.flush_events()
    c = Correlator()
    feed(c, records)
    c.finish()
    w.write_table("calls.parquet", calls_table(c.to_columns()))
    w.write_table("code.parquet", pa.table({
        "code_id": list(code), "pid": [1] * len(code), "kind": ["code"] * len(code),
        "file": [v[1] for v in code.values()], "function": [v[0] for v in code.values()],
        "first_line": [1] * len(code), "truncated": [False] * len(code)}, schema=schema.CODE))
    w.write_table("threads.parquet", schema.THREADS.empty_table())
    w.write_table("processes.parquet", schema.PROCESSES.empty_table())
    w.write_session({"started_ns": start, "stopped_ns": start + 10**10, "host": host,
                     "clock": {"monotonic_ns": start, "realtime_ns": realtime_ns},
                     "target": {"pid": 1}, "drops": {}, "counts": {}})
    return folder
