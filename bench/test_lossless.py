"""Every call of a call-heavy program, side by side with its peers (issue 15).

`bench/workloads/mixed.py` (recursive fib, json round trips, small methods;
its Python calls counted exactly by a `sys.setprofile` run) under: nothing;
`scope run`; VizTracer keeping every entry (`--tracer_entries` above the
program's count); VizTracer's default (its last 1 M entries); cProfile. Per
case: the hot loop's slowdown against the untraced run of the same session,
what was kept and dropped, the time from the program's end to a complete
recording (the tracer's exit: for VizTracer, saving its file), bytes on disk.
Each case runs ROUNDS times; the figures are of the round with the best hot
loop.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

PY = "/usr/bin/python3.11"
WORKLOAD = str(Path(__file__).parent / "workloads" / "mixed.py")
SCALE = "130"       # ~4.3 M Python calls
ROUNDS = 3
BASE: dict[str, float] = {}


def _cmd(mode: str, tmp: Path) -> list[str]:
    if mode == "baseline":
        return [PY, WORKLOAD, SCALE]
    if mode == "cprofile":
        return [PY, "-m", "cProfile", "-o", str(tmp / "prof.out"), WORKLOAD, SCALE]
    if mode.startswith("viztracer"):
        entries = ["--tracer_entries", "30000000"] if mode == "viztracer-all" else []
        return [sys.executable, "-m", "viztracer", *entries, "-o", str(tmp / "trace.json"), WORKLOAD, SCALE]
    if mode == "scope":
        return [sys.executable, "-m", "scope", "run", "-o", str(tmp / "rec"), "--", PY, WORKLOAD, SCALE]
    raise ValueError(mode)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


@pytest.fixture(scope="module")
def python_calls() -> int:
    out = subprocess.run([PY, WORKLOAD, SCALE, "--count"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["calls"]


@pytest.mark.parametrize("mode", ["baseline", "scope", "viztracer-all", "viztracer", "cprofile"])
def test_every_call(benchmark, mode, tmp_path_factory, python_calls):
    rounds = []

    def once():
        tmp = tmp_path_factory.mktemp(mode)
        proc = subprocess.run(_cmd(mode, tmp), capture_output=True, text=True, timeout=900)
        exited = time.monotonic_ns()
        assert proc.returncode == 0, proc.stderr
        line = next(x for x in proc.stdout.splitlines() if x.startswith("{"))
        facts = json.loads(line)
        row = {"hot_s": facts["seconds"], "to_complete_s": (exited - facts["end_ns"]) / 1e9}
        if mode == "scope":
            meta = json.loads((tmp / "rec" / "session.json").read_text())
            row.update(kept_calls=sum(meta["counts"]["calls"].values()),
                       kept_records=sum(meta["counts"]["events"].get(k, 0) for k in ("call", "return")),
                       dropped=sum(meta["drops"].values()), bytes=_size(tmp / "rec"),
                       indexed_after_stop_s=meta["indexed_after_stop_s"],
                       spilled=meta["shim"]["backlog"]["spilled_records"])
        elif mode.startswith("viztracer"):
            text = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)
            row.update(kept_entries=int(re.findall(r"Total Entries: (\d+)", text)[-1]),
                       bytes=_size(tmp / "trace.json"))
        elif mode == "cprofile":
            row.update(bytes=_size(tmp / "prof.out"))
        rounds.append(row)

    benchmark.pedantic(once, rounds=ROUNDS, iterations=1)
    best = min(rounds, key=lambda r: r["hot_s"])
    benchmark.extra_info.update(best, python_calls=python_calls)
    if mode == "baseline":
        BASE["hot_s"] = best["hot_s"]
    elif "hot_s" in BASE:
        benchmark.extra_info["slowdown"] = round(best["hot_s"] / BASE["hot_s"], 2)
    if mode == "scope":     # the point: every call kept, none dropped
        assert best["dropped"] == 0, best
        assert best["kept_calls"] >= python_calls, best


def test_spill_raw_or_compressed(benchmark, tmp_path):
    """How the spill is written: flood-like records (4 M, 128 MB) encoded by
    the spill's codec (collector/_spill_codec.h, run by run as the drain
    does), against zlib at its fastest level and against written raw through
    the page cache (with fsync), on this machine. Figures: MB/s of records
    and the ratios; the codec's decoding too (the indexer reads it back)."""
    import os
    import zlib

    import numpy as np

    from scope.collector._drain import RUN_MAX, decode, encode
    from scope.probes.layout import record_dtype

    n = 4_000_000
    rng = np.random.default_rng(1)
    recs = np.zeros(n, record_dtype("scope_event"))
    recs["ts"] = np.cumsum(rng.integers(40, 90, n))
    recs["pid"] = recs["tid"] = 1234
    recs["kind"] = 1 + np.arange(n) % 2
    # call and return of one of 50 functions, as the shim writes them (a return
    # carries its code; a call, its first line)
    recs["code"] = np.repeat(0xE000_0001 + rng.integers(0, 50, n // 2), 2)
    recs["line"] = np.where(recs["kind"] == 1, 3 + (recs["code"] & 0xFF) * 7, 0)
    raw = recs.tobytes()
    runs = [raw[i:i + RUN_MAX * 32] for i in range(0, len(raw), RUN_MAX * 32)]
    timings = {}

    def once():
        t = time.perf_counter()
        encoded = [encode(r) for r in runs]
        timings.setdefault("codec", []).append(time.perf_counter() - t)
        timings["codec_ratio"] = len(raw) / sum(len(e) for e in encoded)
        t = time.perf_counter()
        back = b"".join(decode(e, len(r) // 32) for e, r in zip(encoded, runs))
        timings.setdefault("decode", []).append(time.perf_counter() - t)
        assert back == raw
        t = time.perf_counter()
        packed = zlib.compress(raw, 1)
        timings.setdefault("zlib", []).append(time.perf_counter() - t)
        timings["ratio"] = len(raw) / len(packed)
        t = time.perf_counter()
        with open(tmp_path / "spill", "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        timings.setdefault("raw", []).append(time.perf_counter() - t)

    benchmark.pedantic(once, rounds=3, iterations=1)
    benchmark.extra_info.update(codec_mb_s=round(len(raw) / min(timings["codec"]) / 1e6),
                                codec_decode_mb_s=round(len(raw) / min(timings["decode"]) / 1e6),
                                codec_ratio=round(timings["codec_ratio"], 1),
                                zlib1_mb_s=round(len(raw) / min(timings["zlib"]) / 1e6),
                                raw_write_mb_s=round(len(raw) / min(timings["raw"]) / 1e6),
                                zlib1_ratio=round(timings["ratio"], 1))


FLOOD_S = float(__import__("os").environ.get("SCOPE_FLOOD_S", "60"))


def test_long_flood(benchmark, tmp_path):
    """`bench/workloads/sustained.py FLOOD_S 0`: leaf() as fast as the target
    can call it for FLOOD_S seconds (60; $SCOPE_FLOOD_S), under `scope run`
    with the default bounds. The goal: every call recorded (0 dropped while
    the spill bound holds); what is asserted: none lost uncounted. The
    figures: leaf()'s calls recorded, drops, the collector's peak resident
    memory and CPU time, the spill's peak, how long indexing ran after the
    target ended."""
    import threading

    import psutil

    out = tmp_path / "rec"
    rss: list[int] = []
    cpu: list[float] = []           # the collector's own CPU seconds (user + system), its threads' all

    def run():
        proc = subprocess.Popen([sys.executable, "-m", "scope", "run", "-o", str(out), "--", PY,
                                 str(Path(__file__).parent / "workloads" / "sustained.py"), str(FLOOD_S), "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stop = threading.Event()

        def sample():
            p = psutil.Process(proc.pid)
            while not stop.is_set():
                try:
                    rss.append(p.memory_info().rss)
                    times = p.cpu_times()
                    cpu.append(times.user + times.system)
                except psutil.Error:
                    return
                stop.wait(0.1)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stdout, stderr = proc.communicate(timeout=3600)
        stop.set()
        sampler.join()
        assert proc.returncode == 0, stderr
        return stdout

    stdout = benchmark.pedantic(run, rounds=1, iterations=1)
    offered = json.loads(next(x for x in stdout.splitlines() if x.startswith("{")))
    meta = json.loads((out / "session.json").read_text())
    leaf = subprocess.run([sys.executable, "-m", "scope", "query", str(out), "--format", "json", "--sql",
                           "select count(*) n from calls k join code c using (pid, code_id) "
                           "where c.function = 'leaf' and k.status = 'complete'"],
                          capture_output=True, text=True, check=True)
    backlog = meta["shim"]["backlog"]
    benchmark.extra_info.update(
        seconds=FLOOD_S, offered_calls=offered["calls"], offered_per_s=round(offered["calls"] * 2 / offered["seconds"]),
        leaf_calls_recorded=json.loads(leaf.stdout)[0]["n"], dropped=sum(meta["drops"].values()),
        indexed_after_stop_s=meta["indexed_after_stop_s"], collector_peak_rss=max(rss),
        collector_cpu_s=round(max(cpu), 1), wall_s=round(benchmark.stats.stats.max, 1),
        memory_peak=backlog["memory_peak_bytes"], spill_peak=backlog["spill_peak_bytes"],
        spilled=backlog["spilled_records"],
        bytes_on_disk=sum(p.stat().st_size for p in out.rglob("*") if p.is_file()))
    # the goal is 0 dropped (RESULTS.md says whether it was met); what must hold
    # regardless: no call lost uncounted (a dropped record costs at most one call)
    info = benchmark.extra_info
    assert offered["calls"] - info["dropped"] <= info["leaf_calls_recorded"] <= offered["calls"]
