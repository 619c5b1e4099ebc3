"""The store on a 10M-event recording built through the real writer and correlator.

The recording: 4 threads, 2.5 M (outer -> inner) call pairs spread over 60 s,
100 functions; written the way the collector writes (events and finished calls
in segments, catalog). Figures: write throughput, bytes per event, and the
latency of the questions the TUI and `scope query` ask. For comparison, the
same questions over a VizTracer-style Chrome JSON of the first 1 M events
(loading 10 M events of JSON needs ~10 GB here), measured in the same run.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from scope.collector.correlate import Correlator
from scope.store import schema, travel
from scope.store.build import calls_table
from scope.store.query import Filters, calls, events, top
from scope.store.reader import open_recording
from scope.store.writer import RecordingWriter
from tests.unit.streams import pairs as _pairs

EVENTS = 10_000_000
THREADS = 4
SPAN_NS = 60 * 10**9
START = 10**12


def synthetic(n: int) -> np.ndarray:
    return _pairs(n, threads=THREADS, span_ns=SPAN_NS, start=START)
BATCH = 1_000_000
FACTS: dict = {}


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store") / "rec"
    ev = synthetic(EVENTS)
    t0 = time.perf_counter()
    w = RecordingWriter(folder)
    w.catalog.set_header({"started_ns": START, "host": "bench", "target": {"pid": 7},
                          "clock": {"monotonic_ns": START, "realtime_ns": 1_700_000_000 * 10**9}})
    c = Correlator()
    for i in range(0, EVENTS, BATCH):
        part = ev[i:i + BATCH]
        w.add_events(part)
        c.feed(part["ts"].astype(np.int64), part["pid"], part["tid"], part["kind"], part["code"],
               part["line"], part["flags"], part["arg"])
        w.add_calls(calls_table(c.drain()))
    w.flush()
    c.finish()
    w.add_calls(calls_table(c.drain(everything=True)))
    w.write_table("code.parquet", pa.table({
        "code_id": list(range(1, 101)), "pid": [7] * 100, "kind": ["code"] * 100,
        "file": [f"/app/m{i % 10}.py" for i in range(1, 101)], "function": [f"f{i}" for i in range(1, 101)],
        "first_line": [1] * 100, "truncated": [False] * 100,
        "qualname": [f"f{i}" for i in range(1, 101)]}, schema=schema.CODE))
    for name, sch in (("threads.parquet", schema.THREADS), ("processes.parquet", schema.PROCESSES)):
        w.write_table(name, sch.empty_table())
    w.write_session({"started_ns": START, "stopped_ns": START + SPAN_NS, "host": "bench",
                     "clock": {"monotonic_ns": START, "realtime_ns": 1_700_000_000 * 10**9},
                     "target": {"pid": 7}, "drops": {}, "counts": {}})
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    FACTS.update(write_s=round(seconds, 2), events_per_s=int(EVENTS / seconds),
                 bytes=size, bytes_per_event=round(size / EVENTS, 2))
    return open_recording(folder)


@pytest.fixture(scope="module")
def viztracer_json(tmp_path_factory, recording):
    """The first 1 M events as Chrome-trace complete events (what VizTracer writes)."""
    t = recording.calls(START, START + SPAN_NS // 20)
    rows = t.slice(0, 500_000).select(["tid", "code_id", "start_ns", "duration_ns"]).to_pylist()
    doc = {"traceEvents": [{"ph": "X", "name": f"f{r['code_id']}", "pid": 7, "tid": r["tid"],
                            "ts": (r["start_ns"] - START) / 1000, "dur": r["duration_ns"] / 1000}
                           for r in rows if r["start_ns"] is not None]}
    path = tmp_path_factory.mktemp("viz") / "trace.json"
    path.write_text(json.dumps(doc))
    return path


def test_write_throughput_and_size(benchmark, recording):
    benchmark.pedantic(lambda: None, rounds=1)
    benchmark.extra_info.update(FACTS)


def test_one_second_one_function(benchmark, recording):
    f = Filters(function="f7", since="30", until="31")
    out = benchmark(lambda: calls(recording, f))
    benchmark.extra_info["rows"] = out.num_rows


def test_events_of_one_second(benchmark, recording):
    out = benchmark(lambda: events(recording, Filters(since="30", until="31")))
    benchmark.extra_info["rows"] = out.num_rows


def test_time_travel_at(benchmark, recording):
    out = benchmark(lambda: travel.at(recording, START + 30 * 10**9 + 12345))
    benchmark.extra_info["rows"] = out.num_rows


def test_top_over_everything(benchmark, recording):
    """From the segments' summaries (the default): issue 15's goal, ≤ 100 ms."""
    out = benchmark(lambda: top(recording, Filters()))
    benchmark.extra_info["functions"] = out.num_rows
    exact = top(recording, Filters(), exact=True)
    assert out.select(["function", "calls", "total_ns"]) == exact.select(["function", "calls", "total_ns"])


def test_summary_cost(benchmark, recording):
    """What writing the summaries adds to writing the recording (both in this
    run): summarize() over every calls segment, against the whole write."""
    from scope.store.summary import summarize
    segments = [recording.calls(only={seg}) for seg in recording.meta["calls_segments"]]

    def all_summaries():
        for t in segments:
            summarize(t)
    benchmark.pedantic(all_summaries, rounds=3, iterations=1)
    cost = benchmark.stats.stats.min
    benchmark.extra_info.update(calls=sum(t.num_rows for t in segments), summaries_s=round(cost, 3),
                                share_of_write=round(cost / FACTS["write_s"], 3))


def test_top_over_everything_exact(benchmark, recording):
    """From every call (`--top --exact`): the figure before summaries."""
    out = benchmark.pedantic(lambda: top(recording, Filters(), exact=True), rounds=2, iterations=1)
    benchmark.extra_info["functions"] = out.num_rows


def test_top_of_a_ten_second_range(benchmark, recording):
    """Summaries inside the range, rows at its two edges."""
    f = Filters(since="20.5", until="30.5")
    out = benchmark(lambda: top(recording, f))
    benchmark.extra_info["functions"] = out.num_rows


def test_viztracer_json_one_function(benchmark, viztracer_json):
    def ask():
        doc = json.loads(Path(viztracer_json).read_text())
        return [e for e in doc["traceEvents"] if e["name"] == "f7" and 0.5e6 <= e["ts"] <= 1.5e6]
    out = benchmark.pedantic(ask, rounds=2, iterations=1)
    benchmark.extra_info["rows"] = len(out)


@pytest.fixture(scope="module")
def compacted(tmp_path_factory, recording):
    """A copy of the recording, compacted once (the cold tier); its time is the figure."""
    import shutil

    from scope.store.compact import compact
    folder = tmp_path_factory.mktemp("cold") / "rec"
    shutil.copytree(recording.folder, folder)
    (folder / ".lock").unlink(missing_ok=True)
    t0 = time.perf_counter()
    res = compact(folder)
    FACTS.update(compact_s=round(time.perf_counter() - t0, 2), cold_files=res.files,
                 cold_bytes_per_event=round(res.bytes_after / EVENTS, 2))
    assert res.done and res.rows["events"] == EVENTS
    return open_recording(folder)


def test_compaction(benchmark, compacted):
    benchmark.pedantic(lambda: None, rounds=1)
    benchmark.extra_info.update({k: FACTS[k] for k in ("compact_s", "cold_files", "cold_bytes_per_event")})


def test_cold_one_second_one_function(benchmark, compacted):
    f = Filters(function="f7", since="30", until="31")
    out = benchmark(lambda: calls(compacted, f))
    benchmark.extra_info["rows"] = out.num_rows


def test_cold_time_travel_at(benchmark, compacted):
    out = benchmark(lambda: travel.at(compacted, START + 30 * 10**9 + 12345))
    benchmark.extra_info["rows"] = out.num_rows


def test_bytes_per_event_of_a_real_recording(benchmark, tmp_path):
    """The synthetic recording above is far more regular than real timestamps, so
    its bytes per event flatter any encoding: this records the demo service for
    4 s (scope run, real eBPF and shim) and weighs its events and calls tables as
    written, and as plain dictionary-encoded zstd (scope before delta encoding)."""
    import os
    import subprocess
    import sys

    import pyarrow.parquet as pq
    if os.geteuid() != 0:
        pytest.skip("needs root (real eBPF)")
    out = tmp_path / "rec"
    res = subprocess.run([sys.executable, "-m", "scope", "run", "-o", str(out), "--",
                          "/usr/bin/python3.11", str(Path(__file__).parent.parent / "examples" / "demo_app.py"),
                          "4"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rec = open_recording(out)
    files = [out / s for s in rec.meta["segments"] + rec.meta["calls_segments"]]
    n = sum(rec.meta["counts"]["events"].values())
    written = sum(f.stat().st_size for f in files)
    plain = 0
    for f in files:
        pq.write_table(pq.read_table(f), tmp_path / "plain.parquet", compression="zstd")
        plain += (tmp_path / "plain.parquet").stat().st_size
    benchmark.pedantic(lambda: None, rounds=1)
    benchmark.extra_info.update(events=n, bytes_per_event=round(written / n, 2),
                                plain_bytes_per_event=round(plain / n, 2))
