"""Under a flood the target pays the probe cost and nothing more.

A flood far beyond what the collector drains must not slow the target beyond
what each probe costs it anyway: the shim's ring never blocks (a full ring
counts the record and goes on), and the collector competes for the CPU only.
Same target (tests/targets/flood.py: flood(N) calls leaf() N times per byte
read), timed from the outside per flood, best of ROUNDS:

* `idle`: the shim loaded, no collector (its cost: a semaphore check);
* `within`: scope attached, a flood the ring holds (no drop) — the probe cost;
* `flood`: scope attached, a flood 10x the ring's size (most records dropped);
* `stalled`: the same flood with the collector stopped (SIGSTOP): nobody drains,
  every record past the full ring is a counted drop.

The figure is the extra time per call against `idle` at the same N; the
ratio of `flood` and `stalled` to `within` is what the claim is about.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PY = "/usr/bin/python3.11"
TARGET = str(Path(__file__).parents[1] / "tests" / "targets" / "flood.py")
SMALL, LARGE = 400_000, 10_000_000      # 0.8M events (the ring holds 2M), 20M events
ROUNDS = 5
IDLE: dict[int, float] = {}
EXTRA_NS: dict[str, float] = {}


def _start(n: int) -> subprocess.Popen:
    from scope.probes.shim import build_shim, preload_env
    env = preload_env(build_shim(PY), dict(os.environ))
    target = subprocess.Popen([PY, TARGET, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert target.stdout.readline() == b"ready\n"
    return target


def _flood(target) -> float:
    start = time.perf_counter()
    target.stdin.write(b"x")
    target.stdin.flush()
    assert target.stdout.readline() == b"done\n"
    return time.perf_counter() - start


def _attach(pid: int, out: Path) -> subprocess.Popen:
    scope = subprocess.Popen([sys.executable, "-m", "scope", "attach", str(pid), "-o", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while "recording pid" not in (scope.stderr.readline() or "recording pid"):
        pass
    time.sleep(0.3)       # the switch turns capture on (20 ms polls)
    return scope


@pytest.mark.parametrize("mode,n", [("idle", SMALL), ("idle", LARGE), ("within", SMALL),
                                    ("flood", LARGE), ("stalled", LARGE)])
def test_flood_costs_the_target_only_the_probe(benchmark, mode, n, tmp_path):
    target = _start(n)
    scope = None if mode == "idle" else _attach(target.pid, tmp_path / "rec")
    times = []

    def once():
        if mode == "stalled":
            scope.send_signal(signal.SIGSTOP)
        times.append(_flood(target))
        if mode == "stalled":
            scope.send_signal(signal.SIGCONT)
        time.sleep(1.0 if scope else 0)     # let the collector drain before the next round

    try:
        benchmark.pedantic(once, rounds=ROUNDS, iterations=1)
    finally:
        if scope is not None:
            scope.send_signal(signal.SIGINT)
            scope.communicate(timeout=300)
        target.stdin.close()
        target.wait(timeout=60)
    best = min(times)
    benchmark.extra_info.update(calls=n, flood_s=round(best, 4))
    if mode == "idle":
        IDLE[n] = best
        return
    meta = json.loads((tmp_path / "rec" / "session.json").read_text())
    events = meta["counts"]["events"]
    recorded = events.get("call", 0) + events.get("return", 0)
    dropped = meta["drops"]["shim_ring_full"]
    assert recorded + dropped == ROUNDS * 2 * (n + 1)      # every record stored or counted
    benchmark.extra_info.update(recorded=recorded, dropped=dropped)
    if n in IDLE:
        EXTRA_NS[mode] = (best - IDLE[n]) / n * 1e9
        benchmark.extra_info["extra_ns_per_call"] = round(EXTRA_NS[mode], 1)
        if "within" in EXTRA_NS and mode != "within":
            benchmark.extra_info["vs_probe_cost"] = round(EXTRA_NS[mode] / EXTRA_NS["within"], 2)
