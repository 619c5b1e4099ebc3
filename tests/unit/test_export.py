"""Exports checked against their formats' rules: Chrome Trace Event JSON, speedscope's
evented profiles (well nested, valid frame indexes), folded stacks."""
import json

import pytest

from scope.store.exports import EXPORTERS
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
    doc = json.loads(EXPORTERS["chrome"].write(r))
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
    doc = json.loads(EXPORTERS["speedscope"].write(r))
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
    lines = EXPORTERS["folded"].write(r).splitlines()
    got = {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in lines}
    main, handle, parse = "main (/app/main.py:1)", "handle (/app/web.py:1)", "parse (/app/web.py:1)"
    assert got[f"{main};{handle};{parse}"] == sum(c.self_ns for c in truth if c.code == 3)
    assert got[f"{main};{handle}"] == sum(c.self_ns for c in truth if c.code == 2)
    assert got["idle:now (/app/x.py:1)"] == sum(c.self_ns for c in truth if c.code == 4)
    assert sum(got.values()) == sum(c.self_ns for c in truth) + (r.meta["stopped_ns"] - START - 5000)


def test_perfetto_trace_parses_with_perfettos_own_classes(rec):
    """The protobuf is read back by the generated classes the `perfetto` package ships:
    every slice begins and ends on its thread's track, properly nested, at the
    calls' exact times, with interned names and source locations resolved."""
    pb = pytest.importorskip("perfetto.protos.perfetto.trace.perfetto_trace_pb2")
    r, truth = rec
    trace = pb.Trace()
    trace.ParseFromString(EXPORTERS["perfetto"].write(r))
    tracks = {p.track_descriptor.uuid: p.track_descriptor for p in trace.packet
              if p.HasField("track_descriptor")}
    threads = {u: (d.thread.pid, d.thread.tid) for u, d in tracks.items() if d.HasField("thread")}
    assert sorted(threads.values()) == [(1, 1), (1, 2), (1, 3)]
    assert all(tracks[d.parent_uuid].HasField("process") for d in tracks.values() if d.HasField("thread"))
    names, locs, stacks, begun = {}, {}, {}, []
    for p in trace.packet:
        if not p.HasField("track_event"):
            continue
        assert p.trusted_packet_sequence_id == 1
        names.update({n.iid: n.name for n in p.interned_data.event_names})
        locs.update({s.iid: (s.file_name, s.function_name) for s in p.interned_data.source_locations})
        e = p.track_event
        stack = stacks.setdefault(e.track_uuid, [])
        if e.type == pb.TrackEvent.TYPE_SLICE_BEGIN:
            assert locs[e.source_location_iid][1] == names[e.name_iid]
            stack.append((names[e.name_iid], p.timestamp))
            begun.append((threads[e.track_uuid][1], names[e.name_iid], p.timestamp,
                          e.debug_annotations[0].int_value))
        else:
            assert e.type == pb.TrackEvent.TYPE_SLICE_END and stack
            stack.pop()
    assert not any(stacks.values())
    assert len(begun) == len(truth) + 1
    parse = sorted(ts for tid, name, ts, _ in begun if name == "parse")
    assert parse == sorted(c.start for c in truth if c.code == 3)
    assert {name for _, name, _, _ in begun} == {"main", "handle", "parse", "idle;now"}


def test_speedscope_file_validates_against_speedscopes_own_schema(rec):
    """speedscope's JSON schema (from its npm package, fetched by setup.sh)."""
    import sys
    from pathlib import Path

    import jsonschema
    path = Path(sys.prefix) / "share" / "scope-tests" / "speedscope-file-format-schema.json"
    assert path.exists(), f"{path} is missing: run ./setup.sh (it fetches speedscope@1.25.0's schema)"
    schema = json.loads(path.read_text())
    doc = json.loads(EXPORTERS["speedscope"].write(rec[0]))
    jsonschema.validate(doc, schema)
    bad = dict(doc, profiles=[dict(doc["profiles"][0], type="sampled-ish")])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_same_named_functions_are_frames_of_their_own(tmp_path):
    """A property's getter and setter share their qualified name and file: their
    first lines keep them apart in folded stacks and the TUI's flame graph."""
    from scope.tui.flame import aggregate
    code = {1: ("main", "/app/m.py", 1), 2: ("Box.value", "/app/m.py", 10), 3: ("Box.value", "/app/m.py", 14)}
    _, calls, ev = tree_events([(1, [(2, []), (3, []), (3, [])])], tid=1, t0=START + 1000)
    r = open_recording(write_recording(tmp_path / "rec", ev, code))
    stacks = [line.rsplit(" ", 1)[0] for line in EXPORTERS["folded"].write(r).splitlines()]
    assert sorted(stacks) == ["main (/app/m.py:1)", "main (/app/m.py:1);Box.value (/app/m.py:10)",
                              "main (/app/m.py:1);Box.value (/app/m.py:14)"]
    from scope.store.names import with_names as _names
    tree = aggregate(_names(r.calls(), r.code()))
    (main,) = tree.children
    assert sorted(n.name for n in main.children) == ["Box.value", "Box.value"]
    setter = sum(c.duration for c in calls if c.code == 3)
    assert sorted(n.total for n in main.children) == sorted([setter, sum(c.duration for c in calls
                                                                            if c.code == 2)])
