"""Build small recordings through the real writer from synthetic events."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from scope.collector.correlate import Correlator
from scope.store import schema
from scope.store.build import calls_table
from scope.store.writer import RecordingWriter

from .streams import feed, to_records

START = 1_000_000_000  # monotonic ns of the recording's start


def write_recording(folder: Path, events, code: dict[int, tuple[str, str]], *, segment_rows=1000,
                    start: int = START, realtime_ns: int = 1_700_000_000 * 10**9, host: str = "test",
                    layout: str = "segments") -> Path:
    """events: (ts, tid, kind, code) tuples; code: id -> (function, file[, first
    line: 1 if not given]); the
    session started at monotonic `start`, which was wall time `realtime_ns`.
    Calls in segments as scope writes them (`layout="single"`: one calls.parquet,
    as scope 0.1 did, which readers still accept)."""
    records = to_records(events)
    w = RecordingWriter(folder, segment_rows=segment_rows)
    w.add_events(records)
    w.flush_events()
    c = Correlator()
    feed(c, records)
    c.finish()
    if layout == "single":
        w.write_table("calls.parquet", calls_table(c.to_columns()))
    else:
        w.add_calls(calls_table(c.to_columns()))
        w.flush()
    w.write_table("code.parquet", pa.table({
        "code_id": list(code), "pid": [1] * len(code), "kind": ["code"] * len(code),
        "file": [v[1] for v in code.values()], "function": [v[0] for v in code.values()],
        "first_line": [v[2] if len(v) > 2 else 1 for v in code.values()], "truncated": [False] * len(code),
        "qualname": [v[0] for v in code.values()]}, schema=schema.CODE))
    w.write_table("threads.parquet", schema.THREADS.empty_table())
    w.write_table("processes.parquet", schema.PROCESSES.empty_table())
    w.write_session({"started_ns": start, "stopped_ns": start + 10**10, "host": host,
                     "clock": {"monotonic_ns": start, "realtime_ns": realtime_ns},
                     "target": {"pid": 1}, "drops": {}, "counts": {}})
    return folder


def as_ring_records(records):
    """A copy of ``records`` as the collector reads them from a shim's ring."""
    from scope import kinds
    from scope.collector.shmring import mark_derived
    out = records.copy()
    plain = (out["kind"] == kinds.CALL) & (out["flags"] == 0) & (out["arg"] == 0)
    out["line"][plain] = 1
    mark_derived(out)
    return out


def write_calls_recording(folder: Path, records, code: dict[int, tuple[str, str]], *, start: int = START,
                          stop: int | None = None, app_rows: list[dict] | None = None,
                          segment_rows: int = 2_000_000, spans: list[dict] | None = None,
                          derive: bool = True) -> Path:
    """A recording written the way the collector writes one: event and call
    segments through the real writer and correlator, then the end tables. With
    ``derive``, the records are a shim ring's: plain calls carry their code's
    first line (1 here), and plain calls and returns are marked as the
    collector marks them, so the calls rows stand for them (store/derive.py)."""
    from scope.store.build import app_events_table
    if derive:
        records = as_ring_records(records)
    w = RecordingWriter(folder, segment_rows=segment_rows)
    w.set_header({"started_ns": start, "host": "test", "target": {"pid": int(records["pid"][0])},
                  "clock": {"monotonic_ns": start, "realtime_ns": 1_700_000_000 * 10**9}})
    c = Correlator()
    for i in range(0, len(records), 500_000):
        part = records[i:i + 500_000]
        w.add_events(part)
        c.feed(part["ts"].astype("int64"), part["pid"], part["tid"], part["kind"], part["code"],
               part["line"], part["flags"], part["arg"])
        w.add_calls(calls_table(c.drain()))
    c.finish()
    w.add_calls(calls_table(c.drain(everything=True)))
    names = {}
    every = (app_rows or []) + (spans or [])
    if every:
        names = {n: 0xF000_0000 + i for i, n in enumerate(dict.fromkeys(r["name"] for r in every))}
    if app_rows:
        w.add_events(app_events_table(app_rows, names))
    if spans:
        from scope.store.build import spans_table
        w.add_calls(spans_table(spans, c.issued + 1, names))
    pid = int(records["pid"][0])
    rows = [(cid, "code", fn, fl) for cid, (fn, fl) in code.items()] + [(i, "name", n, "") for n, i in names.items()]
    w.write_table("code.parquet", pa.table({
        "code_id": [r[0] for r in rows], "pid": [pid] * len(rows), "kind": [r[1] for r in rows],
        "file": [r[3] for r in rows], "function": [r[2] for r in rows], "first_line": [1] * len(rows),
        "truncated": [False] * len(rows), "qualname": [r[2] for r in rows]}, schema=schema.CODE))
    w.write_table("threads.parquet", schema.THREADS.empty_table())
    w.write_table("processes.parquet", schema.PROCESSES.empty_table())
    w.write_session({"started_ns": start, "stopped_ns": stop or int(records["ts"].max()) + 1000, "host": "test",
                     "clock": {"monotonic_ns": start, "realtime_ns": 1_700_000_000 * 10**9},
                     "target": {"pid": pid}, "drops": {}, "counts": {}})
    return folder


STORY_CODE = {1: ("main", "/app/main.py"), 2: ("handle", "/app/web.py"), 3: ("parse", "/app/web.py"),
              4: ("query_db", "/app/db.py"), 5: ("worker", "/app/work.py"), 6: ("[bold red]spoof[/]", "/app/x.py")}


def write_story(folder: Path) -> Path:
    """A small, fixed recording: main() on thread 1 handles 3 requests (parse,
    query_db; the second request's query is slow: 300 ms), a worker on thread 2,
    a GC pause, two state snapshots, a mark, a span around the second request;
    a function whose name is Rich markup."""
    from scope import kinds

    from .streams import flagged
    ms = 1_000_000
    ev = [(START + 1 * ms, 1, kinds.CALL, 1, 0, 0, 0)]
    t = START + 10 * ms
    for i, slow in enumerate((False, True, False)):
        ev += [(t, 1, kinds.CALL, 2, 0, 0, 0), (t + 1 * ms, 1, kinds.CALL, 3, 0, 0, 0),
               (t + 5 * ms, 1, kinds.RETURN, 3, 0, 0, 0), (t + 6 * ms, 1, kinds.CALL, 4, 0, 0, 0)]
        t += 6 * ms + (300 if slow else 20) * ms
        ev += [(t, 1, kinds.RETURN, 4, 0, 0, 0), (t + 2 * ms, 1, kinds.RETURN, 2, 0, 0, 0)]
        t += 50 * ms
    ev += [(START + 5 * ms, 2, kinds.CALL, 5, 0, 0, 0), (START + 40 * ms, 2, kinds.CALL, 6, 0, 0, 0),
           (START + 60 * ms, 2, kinds.RETURN, 6, 0, 0, 0), (START + 200 * ms, 2, kinds.GC_START, 0, 0, 0, 0),
           (START + 230 * ms, 2, kinds.GC_DONE, 0, 0, 0, 0), (START + 500 * ms, 2, kinds.RETURN, 5, 0, 0, 0),
           (t, 1, kinds.RETURN, 1, 0, 0, 0)]
    records = flagged(sorted(ev))
    states = [{"ts": START + ms * m, "pid": 1, "tid": 1, "kind": kinds.STATE, "name": "config", "flags": 0,
               "ref": 0, "parent": 0, "task": 0, "payload": v}
              for m, v in ((2, '{"mode":"normal"}'), (150, '{"mode":"degraded"}'))]
    states.append({"ts": START + 120 * ms, "pid": 1, "tid": 1, "kind": kinds.MARK, "name": "cache-miss",
                   "flags": 0, "ref": 0, "parent": 0, "task": 0, "payload": '{"key":"user:7"}'})
    span = {"pid": 1, "tid": 1, "span_id": 1, "parent_span": 0, "name": "request#2", "status": "complete",
            "start_ns": START + 86 * ms, "end_ns": START + 394 * ms, "duration_ns": 308 * ms,
            "self_ns": 308 * ms, "task": None}
    return write_calls_recording(folder, records, STORY_CODE, stop=START + 2000 * ms, app_rows=states,
                                 spans=[span])


def write_big(folder: Path, n: int = 1_000_000) -> Path:
    """n events (outer -> inner pairs on 4 threads over 10 s), as the store bench's."""
    from .streams import pairs
    code = {i: (f"f{i}", f"/app/m{i % 10}.py") for i in range(1, 101)}
    return write_calls_recording(folder, pairs(n, threads=4, span_ns=10 * 10**9, start=START), code)
