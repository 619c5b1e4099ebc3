"""scope query --at / --around on a real recording."""
from __future__ import annotations

from .conftest import PYTHON, TARGETS, query_json, run_scope


def test_time_travel_to_the_middle_of_a_sleep(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "travel.py"))
    assert res.returncode == 0, res.stderr
    inner = query_json(out, "--calls", "--function", "inner")[0]
    t = inner["start_s"] + 0.15
    rows = query_json(out, "--at", f"{t:.6f}")
    stacks = {}
    for r in rows:
        if r["section"] == "stack":
            stacks.setdefault(r["tid"], []).append(r["name"])
    assert stacks[inner["tid"]][-3:] == ["main", "outer", "inner"]
    worker = [s for tid, s in stacks.items() if tid != inner["tid"]]
    assert any(s[-1] == "wait_here" for s in worker)
    mine = [r for r in rows if r["section"] == "stack" and r["name"] == "inner"][0]
    assert abs(mine["elapsed_ns"] / 1e9 - 0.15) < 0.001
    states = [r for r in rows if r["section"] == "state"]
    assert [(r["name"], r["value"]) for r in states] == [("phase", '{"step":1}')]
    around = query_json(out, "--around", str(inner["call_id"]))
    assert [r["function"] for r in around if r["relation"] == "ancestor"][-2:] == ["main", "outer"]


def test_exports_of_a_real_recording(tmp_path):
    import json
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "travel.py"))
    assert res.returncode == 0, res.stderr
    for fmt in ("perfetto", "chrome", "speedscope", "folded"):
        exp = run_scope("export", "--parquet", str(out), "--format", fmt, "-o", str(tmp_path / f"t.{fmt}"))
        assert exp.returncode == 0, exp.stderr
    chrome = json.loads((tmp_path / "t.chrome").read_text())
    names = {e["name"] for e in chrome["traceEvents"] if e["ph"] == "X"}
    assert {"main", "outer", "inner", "wait_here"} <= names
    named = {e["tid"] for e in chrome["traceEvents"] if e["ph"] == "M"}     # thread names (comm)
    assert {e["tid"] for e in chrome["traceEvents"] if e["ph"] == "X"} <= named
    speed = json.loads((tmp_path / "t.speedscope").read_text())
    for prof in speed["profiles"]:
        depth = 0
        for ev in prof["events"]:
            depth += 1 if ev["type"] == "O" else -1
            assert depth >= 0
        assert depth == 0
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace
    trace = Trace()
    trace.ParseFromString((tmp_path / "t.perfetto").read_bytes())
    interned = {n.name for p in trace.packet for n in p.interned_data.event_names}
    assert {"main", "outer", "inner", "wait_here"} <= interned
    begins = sum(1 for p in trace.packet if p.HasField("track_event") and p.track_event.type == 1)
    assert begins == sum(1 for e in chrome["traceEvents"] if e["ph"] == "X")
    folded = (tmp_path / "t.folded").read_text().splitlines()
    # frames as py-spy writes them, "function (file:line)"
    inner = [line for line in folded
             if [f.split(" (")[0] for f in line.rsplit(" ", 1)[0].split(";")][-3:] == ["main", "outer", "inner"]]
    assert inner and int(inner[0].rsplit(" ", 1)[1]) >= 0.29e9     # it slept 0.3 s itself
