"""The shim's switch: target throughput before, during and after a 1 s `scope attach`.

Figures (extra_info): during/before and after/before throughput ratios, where
"after" is the first 20 ms window starting once scope has detached plus the
switch's detection delay; and how long after detach throughput was back
within 10 % of the baseline.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
from pathlib import Path

from scope.probes.shim import build_shim, preload_env

PY = "/usr/bin/python3.11"
WORKLOAD = str(Path(__file__).parent / "workloads" / "throughput.py")
DELAY_NS = 20_000_000   # scope_shim._switch.INTERVAL


def test_switch_off_restores_speed(benchmark, tmp_path):
    env = preload_env(build_shim(PY), dict(os.environ))
    proc = subprocess.Popen([PY, WORKLOAD], stdout=subprocess.PIPE, text=True, env=env)
    windows: list[tuple[int, int]] = []

    def reader():
        for line in proc.stdout:
            start, n = line.split()
            windows.append((int(start), int(n)))
    threading.Thread(target=reader, daemon=True).start()
    try:
        def attach_once():
            out = tmp_path / f"rec{len(list(tmp_path.iterdir()))}"
            subprocess.run([sys.executable, "-m", "scope", "attach", str(proc.pid), "--duration", "1",
                            "-o", str(out)], check=True, capture_output=True)
            return json.loads((out / "session.json").read_text())
        meta = benchmark.pedantic(attach_once, rounds=1, iterations=1)
        import time
        time.sleep(1.0)
    finally:
        proc.kill()
        proc.wait()
    on = next(t["ts"] for t in meta["shim"]["tracing"] if t["state"] == "on")
    stop = meta["stopped_ns"]
    before = [n for s, n in windows if s + 20_000_000 < on - 200_000_000]
    during = [n for s, n in windows if on + 100_000_000 < s < stop - 100_000_000]
    after = [(s, n) for s, n in windows if s >= stop + DELAY_NS]
    base = statistics.median(before)
    back = next(s for s, n in after if n >= 0.9 * base)
    benchmark.extra_info.update({
        "during_vs_before": round(statistics.median(during) / base, 3),
        "after_vs_before": round(after[0][1] / base, 3),
        "after_1s_vs_before": round(statistics.median(n for _, n in after) / base, 3),
        "back_within_10pct_ms_after_detach": round((back - stop) / 1e6, 1),
    })
