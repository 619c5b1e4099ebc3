"""--max-overhead: capture is paused on a call-heavy target, the gaps are recorded and
shown, calls across them are marked; a quiet target is recorded throughout."""
from __future__ import annotations

import json

import pytest

from .conftest import PYTHON, TARGETS, query_json, run_scope


def inside(ts: int, gaps: list[dict]) -> bool:
    return any(g["start_ns"] < ts < g["end_ns"] for g in gaps)


@pytest.mark.parametrize("shim", [True, False], ids=["shim-ring", "uprobes"])
def test_call_heavy_target_is_paused_and_the_gaps_are_recorded(tmp_path, shim):
    out = tmp_path / "rec"
    res = run_scope("run", "--max-overhead", "5", *([] if shim else ["--no-shim"]), "-o", str(out),
                    "--", PYTHON, str(TARGETS / "governed.py"), "busy")
    assert res.returncode == 0, res.stderr
    assert "capture paused" in res.stdout
    meta = json.loads((out / "session.json").read_text())
    gaps = meta["gaps"]
    assert len(gaps) >= 2
    assert all(g["end_ns"] > g["start_ns"] for g in gaps)
    paused = sum(g["end_ns"] - g["start_ns"] for g in gaps) / 1e9
    assert paused >= 1.0                       # most of the busy 2 s
    # no call was recorded inside a gap ...
    start = meta["clock"]["monotonic_ns"]
    events = query_json(out, "--kind", "return", "--function", "leaf")
    assert events and not any(inside(start + int(r["time_s"] * 1e9), gaps) for r in events)
    if shim:
        # ... main(), running across the gaps, is marked as spanning them; the quiet
        # phase after the busy one is recorded whole again
        main = query_json(out, "--calls", "--function", "main", "--file", "*/governed.py")
        assert [r["status"] for r in main] == ["spans_gap"]
        assert meta["governor"]["duty"] == 1.0
    assert sum(meta["drops"].values()) == 0


def test_quiet_target_is_recorded_throughout(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "--max-overhead", "5", "-o", str(out), "--",
                    PYTHON, str(TARGETS / "governed.py"), "quiet")
    assert res.returncode == 0, res.stderr
    meta = json.loads((out / "session.json").read_text())
    # at most the first measurement's pause, never one once measured
    assert len(meta["gaps"]) <= 1 and meta["governor"]["duty"] == 1.0
    leaf = [r for r in query_json(out, "--calls", "--function", "leaf") if r["status"] == "complete"]
    assert len(leaf) >= 20 - 2
