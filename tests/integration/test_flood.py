"""A flood far beyond what the collector can take: every event stored or counted, exactly."""
from __future__ import annotations

import json
import signal
import subprocess
import threading

from .conftest import attach_scope, query_json, start_with_shim

N = 3_000_000     # 6,000,002 events in well under a second: beyond the 2M-record ring
BOUND = 1 << 30   # the collector's resident memory during the flood stays under this
FINISH_BOUND = 3 << 29   # ...and while it finishes the recording (1.5 GiB)


def _sample(pid: int, out: list, stop) -> None:
    import psutil
    proc = psutil.Process(pid)
    while not stop.is_set():
        out.append(proc.memory_info().rss)
        stop.wait(0.02)


def test_recorded_plus_dropped_equals_emitted(tmp_path):
    target = start_with_shim("flood.py", str(N), stdin=subprocess.PIPE)
    try:
        out = tmp_path / "rec"
        scope = attach_scope(target.pid, out)
        rss, stop = [], threading.Event()
        sampler = threading.Thread(target=_sample, args=(scope.pid, rss, stop), daemon=True)
        sampler.start()
        target.stdin.write(b"w")            # flood once the shim's capture is on
        target.stdin.flush()
        assert target.stdout.readline() == b"done\n"
        flooded = len(rss)                  # samples up to here: while flooded
        scope.send_signal(signal.SIGINT)
        _, stderr = scope.communicate(timeout=120)
        stop.set()
        sampler.join()
        assert scope.returncode == 0, stderr
        meta = json.loads((out / "session.json").read_text())
        recorded = meta["counts"]["events"].get("call", 0) + meta["counts"]["events"].get("return", 0)
        dropped = meta["drops"]["shim_ring_full"]
        assert dropped > 0                              # it really was a flood
        assert recorded + dropped == 2 * (N + 1)
        # what was counted as recorded is on disk, row for row
        on_disk = query_json(out, "--sql", "select count(*) n from events where kind in ('call', 'return')")
        assert on_disk == [{"n": recorded}]
        # losses broke the nesting they touched; nothing was mis-nested
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
        code = pq.read_table(out / "code.parquet").to_pylist()
        ids = {r["function"]: r["code_id"] for r in code if r["file"].endswith("flood.py")}
        from scope.store.reader import open_recording
        calls = open_recording(out).calls().select(["call_id", "parent_id", "code_id", "status"])
        leaf = calls.filter(pc.equal(calls["code_id"], ids["leaf"]))
        assert 0 < leaf.num_rows <= N
        parents = set(leaf.filter(pc.is_valid(leaf["parent_id"]))["parent_id"].to_pylist())
        parent_codes = set(calls.filter(pc.is_in(calls["call_id"], value_set=__import__("pyarrow").array(
            sorted(parents), type=calls["call_id"].type)))["code_id"].to_pylist())
        assert parent_codes <= {ids["flood"]}
        # the collector's memory while flooded: the hot tier (<= 2M rows, 256 MiB), the
        # shim's mapped ring (2M records, 64 MiB) and the calls finished since the last
        # hand-out (a roll every 5 s or 4M events: session.ROLL_EVENTS); RELIABILITY.md.
        # Finishing (the last drain, the final calls, the tables) peaks higher: measured, bounded
        peak, finish = max(rss[:flooded]), max(rss[flooded:])
        print(f"collector RSS while flooded: {min(rss[:flooded]) / 2**20:.0f} -> {peak / 2**20:.0f} MiB; "
              f"finishing: {finish / 2**20:.0f} MiB")
        assert peak < BOUND, f"{peak / 2**20:.0f} MiB"
        assert finish < FINISH_BOUND, f"{finish / 2**20:.0f} MiB"
    finally:
        target.kill()
        target.wait()
