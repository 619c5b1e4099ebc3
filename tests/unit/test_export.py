"""Exports checked against their formats' rules: Chrome Trace Event JSON, speedscope's
evented profiles (well nested, valid frame indexes), folded stacks."""
import json

import pytest

from scope.store import export
from scope.store.reader import open_recording

from .recording import START, write_recording
from .streams import tree_events

CODE = {1: ("main", "/app/main.py"), 2: ("handle", "/app/web.py"), 3: ("parse", "/app/web.py"),
        4: ("idle;now", "/app/x.py")}        # a ";" in a name must not split a folded stack


@pytest.fixture
def rec(tmp_path):
    _, calls1, ev1 = tree_events([(1, [(2, [(3, []), (3, [])]), (2, [])])], tid=1, t0=START + 1000)
    _, calls2, ev2 = tree_events([(4, [])], tid=2, t0=START + 1000)
    open_call = [(START + 5000, 3, 1, 1)]          # main on thread 3, still running at the stop
    return open_recording(write_recording(tmp_path / "rec", sorted(ev1 + ev2) + open_call, CODE)), \
        calls1 + calls2


def test_chrome_trace_events(rec):
    r, truth = rec
    doc = json.loads(export.chrome(r))
    slices = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert len(slices) == len(truth) + 1
    for e in slices:
        assert {"name", "ts", "dur", "pid", "tid"} <= set(e) and e["dur"] >= 0
    parse = sorted(e["ts"] for e in slices if e["name"] == "parse")
    assert parse == [(c.start - START) / 1000 for c in sorted(truth, key=lambda c: c.start) if c.code == 3]
    still = [e for e in slices if e["tid"] == 3][0]     # closed at the stop
    assert still["ts"] + still["dur"] == (r.meta["stopped_ns"] - START) / 1000


def test_speedscope_profiles_are_well_nested(rec):
    r, truth = rec
    doc = json.loads(export.speedscope(r))
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = doc["shared"]["frames"]
    assert {f["name"] for f in frames} == {"main", "handle", "parse", "idle;now"}
    for prof in doc["profiles"]:
        assert prof["type"] == "evented" and prof["unit"] == "nanoseconds"
        stack, last = [], prof["startValue"]
        for ev in prof["events"]:
            assert 0 <= ev["frame"] < len(frames) and ev["at"] >= last
            last = ev["at"]
            if ev["type"] == "O":
                stack.append(ev["frame"])
            else:
                assert stack and stack.pop() == ev["frame"]
        assert not stack and prof["endValue"] == last
    opens = sum(1 for p in doc["profiles"] for e in p["events"] if e["type"] == "O")
    assert opens == len(truth) + 1


def test_folded_stacks_add_up_to_self_times(rec):
    r, truth = rec
    lines = export.folded(r).splitlines()
    got = {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in lines}
    assert got["main;handle;parse"] == sum(c.self_ns for c in truth if c.code == 3)
    assert got["main;handle"] == sum(c.self_ns for c in truth if c.code == 2)
    assert got["idle:now"] == sum(c.self_ns for c in truth if c.code == 4)
    assert sum(got.values()) == sum(c.self_ns for c in truth) + (r.meta["stopped_ns"] - START - 5000)
