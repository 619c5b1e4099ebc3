"""The collector's indexing pipeline alone: a shim ring's records through the
correlator, the call sink and the writer to Parquet segments, in the
collector's own batches and rolls — what runs behind the drain (issue 15).

Side by side in one run: "stored" writes every call and return event to
`events` (scope before schema 2); "derived" lets the calls rows stand for
the plain ones (store/derive.py). The records are a flood's: a loop calling
leaf() (two records per call), 50 ns apart, with a gc pair every 100,000
records; the same array for both. One thread, this process: records per
second of wall time, the bytes written, and the events read back.
"""
from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pytest

from scope import kinds
from scope.collector.callsink import CallSink
from scope.collector.correlate import Correlator
from scope.collector.session import ROLL_EVENTS
from scope.collector.shmring import EVENT, TAKE_MAX, mark_derived, stood_for
from scope.store import schema
from scope.store.reader import open_recording
from scope.store.writer import RecordingWriter

N = 10_000_000
SHIM = 0xE000_0000


def flood(n: int) -> np.ndarray:
    ev = np.zeros(n, EVENT)
    ev["ts"] = 10**12 + 50 * np.arange(n, dtype=np.uint64)
    ev["pid"], ev["tid"] = 4242, 4242
    ev["kind"][0::2], ev["kind"][1::2] = kinds.CALL, kinds.RETURN
    ev["code"] = SHIM + 2
    ev["line"][0::2] = 10
    gc = np.arange(0, n - 1, 100_000)
    ev["kind"][gc], ev["kind"][gc + 1] = kinds.GC_START, kinds.GC_DONE
    ev["code"][gc], ev["code"][gc + 1], ev["line"][gc] = 0, 0, 0
    return ev


def index(records: np.ndarray, folder, derived: bool) -> RecordingWriter:
    writer = RecordingWriter(folder, auto_flush=False)
    writer.set_header({"started_ns": int(records["ts"][0]), "host": "bench", "target": {"pid": 4242},
                       "clock": {"monotonic_ns": int(records["ts"][0]), "realtime_ns": 0}})
    corr = Correlator(adopt_roots=True)
    sink = CallSink(writer)
    names: dict = {}
    fed = 0
    for i in range(0, len(records), TAKE_MAX):
        ev = records[i:i + TAKE_MAX].copy()        # a take hands out a copy
        if derived:
            mark_derived(ev)
        writer.add_events(ev)
        corr.feed(ev["ts"].astype(np.int64), ev["pid"], ev["tid"], ev["kind"], ev["code"], ev["line"],
                  ev["flags"], ev["arg"])
        fed += len(ev)
        if fed >= ROLL_EVENTS or writer.full:     # the session's rolls (but for its 5-s clock)
            fed = 0
            sink.write(corr.drain(), names, [])
            writer.add_events(stood_for(corr.spell_calls(), corr.first_line))
            writer.flush()
    corr.finish()
    sink.write(corr.drain(everything=True), names, [])
    writer.write_table("code.parquet", pa.table({
        "code_id": [SHIM + 2], "pid": [4242], "kind": ["code"], "file": ["/app/flood.py"], "function": ["leaf"],
        "first_line": [10], "truncated": [False], "qualname": ["leaf"]}, schema=schema.CODE))
    writer.write_table("threads.parquet", schema.THREADS.empty_table())
    writer.write_table("processes.parquet", schema.PROCESSES.empty_table())
    writer.write_session({"started_ns": int(records["ts"][0]), "stopped_ns": int(records["ts"][-1]),
                          "host": "bench", "target": {"pid": 4242}, "drops": {}, "counts": {},
                          "clock": {"monotonic_ns": int(records["ts"][0]), "realtime_ns": 0}})
    return writer


@pytest.fixture(scope="module")
def records():
    return flood(N)


@pytest.mark.parametrize("mode", ["stored", "derived"])
def test_indexing_rate(benchmark, tmp_path, records, mode):
    out = {}

    def run():
        folder = tmp_path / f"rec{len(out)}"
        t0 = time.perf_counter()
        w = index(records, folder, mode == "derived")
        out["s"] = time.perf_counter() - t0
        out["bytes"] = w.bytes_written
        out["folder"] = folder
    rss = _RssPeak()
    with rss:
        benchmark.pedantic(run, rounds=1, iterations=1)
    rec = open_recording(out["folder"])
    t0 = time.perf_counter()
    ev = rec.events(columns=["ts", "kind"])
    read_s = time.perf_counter() - t0
    assert ev.num_rows == N                     # every event reads back, derived or stored
    benchmark.extra_info.update({
        "records": N, "seconds": round(out["s"], 2), "records_per_s": round(N / out["s"]),
        "bytes_on_disk": out["bytes"], "read_all_events_s": round(read_s, 2),
        "rss_growth_peak": rss.growth})


class _RssPeak:
    """This process's resident memory, sampled every 10 ms while in the block:
    the peak above where it started (the indexing side's memory, the records'
    array aside; what an allocator keeps from an earlier case is not seen)."""

    def __enter__(self):
        import threading

        import psutil
        self._proc, self._stop = psutil.Process(), threading.Event()
        self._base = self.peak = self._proc.memory_info().rss

        def sample():
            while not self._stop.wait(0.01):
                self.peak = max(self.peak, self._proc.memory_info().rss)
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self._base
