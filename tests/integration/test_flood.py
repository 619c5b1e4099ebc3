"""A flood far beyond what the collector can take: every event stored or counted, exactly."""
from __future__ import annotations

import json
import signal
import subprocess

from .conftest import attach_scope, start_with_shim

N = 3_000_000     # 6,000,002 events in well under a second: beyond the 2M-record ring


def test_recorded_plus_dropped_equals_emitted(tmp_path):
    target = start_with_shim("flood.py", str(N), stdin=subprocess.PIPE)
    try:
        out = tmp_path / "rec"
        scope = attach_scope(target.pid, out)
        import time
        time.sleep(0.2)                     # the switch turns capture on (20 ms polls)
        target.stdin.write(b"x")
        target.stdin.flush()
        assert target.stdout.readline() == b"done\n"
        time.sleep(0.5)
        scope.send_signal(signal.SIGINT)
        _, stderr = scope.communicate(timeout=120)
        assert scope.returncode == 0, stderr
        meta = json.loads((out / "session.json").read_text())
        recorded = meta["counts"]["events"].get("call", 0) + meta["counts"]["events"].get("return", 0)
        dropped = meta["drops"]["shim_ring_full"]
        assert dropped > 0                              # it really was a flood
        assert recorded + dropped == 2 * (N + 1)
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
    finally:
        target.kill()
        target.wait()
