"""End-to-end ingest: a traced program offering a fixed event rate for 10 s.

Reports, per offered rate, events recorded and dropped (counted by the shim's
ring), the collector's CPU seconds, and recorded events per second. The
target, the collector and pytest share the machine's 2 cores.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

PY = "/usr/bin/python3.11"
WORKLOAD = str(Path(__file__).parent / "workloads" / "sustained.py")
SECONDS = 10


@pytest.mark.parametrize("calls_per_s", [1_000_000, 1_500_000, 0], ids=["2M-events-s", "3M-events-s", "unthrottled"])
def test_sustained_ingest(benchmark, tmp_path, calls_per_s):
    out = tmp_path / "rec"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)

    def run():
        return subprocess.run([sys.executable, "-m", "scope", "run", "-o", str(out), "--", PY, WORKLOAD,
                               str(SECONDS), str(calls_per_s)], capture_output=True, text=True, check=True)
    res = benchmark.pedantic(run, rounds=1, iterations=1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    offered = json.loads(res.stdout.splitlines()[0])
    meta = json.loads((out / "session.json").read_text())
    ev = meta["counts"]["events"]
    recorded = ev.get("call", 0) + ev.get("return", 0)
    dropped = meta["drops"]["shim_ring_full"]
    benchmark.extra_info.update({
        "offered_events": 2 * offered["calls"],
        "recorded_call_events": recorded,
        "dropped": dropped,
        "recorded_per_s": round(recorded / offered["seconds"]),
        "cpu_s_children": round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 1),
        "bytes_on_disk": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
    })
