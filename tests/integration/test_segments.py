"""Finished calls reach disk while recording (warm segments): every call exactly once,
and what was written before a SIGKILL of scope stays readable."""
from __future__ import annotations

import json
import signal

import pyarrow as pa
import pyarrow.parquet as pq

from scope.store.reader import open_recording

from .conftest import PYTHON, TARGETS, attach_scope, query_json, run_scope, start_with_shim, wait_until


def test_calls_are_written_in_segments_exactly_once(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "rolling.py"))
    assert res.returncode == 0, res.stderr
    meta = json.loads((out / "session.json").read_text())
    assert len(meta["calls_segments"]) >= 2
    ids = [pq.read_table(out / seg, columns=["call_id"])["call_id"].to_pylist()
           for seg in meta["calls_segments"]]
    every = [i for part in ids for i in part]
    assert len(every) == len(set(every))                    # no call in two segments
    ticks = [r for r in query_json(out, "--calls", "--function", "tick") if r["status"] == "complete"]
    assert len(ticks) == 600


def _listed_calls(out) -> int:
    """Calls rows the catalog lists so far (0 while it is being replaced)."""
    try:
        return sum(e.get("rows", 0) for e in json.loads((out / "catalog.json").read_text()).get("calls", []))
    except (OSError, ValueError):
        return 0


def test_segments_written_before_a_sigkill_stay_readable(tmp_path):
    target = start_with_shim("rolling.py", "3000")
    try:
        out = tmp_path / "rec"
        scope = attach_scope(target.pid, out, "--write-every", "500ms")
        # two rolls have happened: calls segments on disk, listed in the catalog with
        # enough calls (a segment on disk not yet listed is the unfinished tail, which
        # a query does not read: waiting on the files alone raced the catalog)
        wait_until(lambda: len(list((out / "calls").glob("part-*.parquet"))) >= 2
                   and _listed_calls(out) > 50, "two calls segments, listed")
        scope.send_signal(signal.SIGKILL)
        scope.wait()
    finally:
        target.kill()
        target.wait()
    parts = sorted((out / "calls").glob("part-*.parquet"))
    assert parts and not list((out / "calls").glob(".*.tmp"))
    calls = pa.concat_tables([pq.read_table(p) for p in parts])
    # the events behind those calls were flushed with them: every entry seen is in them
    # (stored as such, or derived from the calls rows that stand for them: store/derive.py)
    events = open_recording(out).events(columns=["code_id", "kind"])
    entered = {c for c, k in zip(events["code_id"].to_pylist(), events["kind"].to_pylist()) if k == "call"}
    seen = {c for c, s in zip(calls["code_id"].to_pylist(), calls["start_ns"].to_pylist()) if s is not None}
    assert calls.num_rows > 50 and seen <= entered
    assert not (out / "session.json").exists()            # unfinished, and says so
    verify = run_scope("store", "verify", str(out))
    assert verify.returncode == 1 and "UNFINISHED" in verify.stdout and "tail" in verify.stdout
    assert "damaged" not in verify.stdout
    # ... and queryable through its catalog: names included (rolled with the calls)
    ticks = query_json(out, "--calls", "--function", "tick")
    assert len(ticks) > 50 and all(r["file"].endswith("rolling.py") for r in ticks)
