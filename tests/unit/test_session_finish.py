"""Finishing a recording survives scope's own failures: everything else is written."""
import json

import numpy as np

from scope import kinds
from scope.collector.bpfrings import NAME
from scope.collector.finish import finish
from scope.collector.options import RecordingOptions
from scope.collector.session import Session
from scope.probes.plan import plan_probes
from scope.probes.target import inspect_binary
from scope.store.reader import open_recording

from .streams import to_records


def test_a_failing_table_does_not_lose_the_recording(tmp_path, monkeypatch):
    target = inspect_binary("/usr/bin/python3.11")
    target.pid = 1
    session = Session(target, plan_probes((3, 11), target.markers), tmp_path / "rec")
    session.anchor = (1000, 2000)
    session.stopped(5000)
    ev = to_records([(1100, 1, kinds.CALL, 1), (1200, 1, kinds.RETURN, 1)])
    session.ingest(ev, np.zeros(0, NAME), [])

    def broken():
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(session.threads, "table", broken)
    result = finish(session, 1.0, {"events_ring_full": 0})
    meta = json.loads((tmp_path / "rec" / "session.json").read_text())
    assert meta["errors"] == ["writing threads: RuntimeError: disk on fire"]
    rec = open_recording(tmp_path / "rec")
    assert rec.events().num_rows == 2
    assert rec.calls()["duration_ns"].to_pylist() == [100]
    assert result.meta["errors"]
    # each part's share of session.json, in the keys readers know
    assert meta["shim"] == {"loaded": False, "tracing": [], "own_events_excluded": 0, "switch_threads": [],
                            "transport": None, "ring_errors": [], "backlog": None, "errors": {}}
    assert meta["counts"]["events"] == {"call": 1, "return": 1}


def test_span_ids_never_collide_with_calls_cut_by_min_duration(tmp_path):
    target = inspect_binary("/usr/bin/python3.11")
    target.pid = 1
    session = Session(target, plan_probes((3, 11), target.markers), tmp_path / "rec",
                      RecordingOptions(min_duration_ns=50))
    session.anchor = (1000, 2000)
    session.stopped(5000)
    # a short call (cut) then a long one (kept): two correlator ids, one kept
    ev = to_records([(1100, 1, kinds.CALL, 1), (1110, 1, kinds.RETURN, 1),
                     (1200, 1, kinds.CALL, 1), (1400, 1, kinds.RETURN, 1)])
    session.ingest(ev, np.zeros(0, NAME), [])
    span = {"pid": 1, "tid": 1, "name": "s", "task": 0, "parent": 0, "flags": 0, "payload": None}
    assert session.names.app_id("s") == 0xF0000000
    session.spans.feed([dict(span, kind=kinds.SPAN_BEGIN, ref=1, ts=1150),
                        dict(span, kind=kinds.SPAN_END, ref=1, ts=1300)])
    finish(session, 1.0, {})
    calls = open_recording(tmp_path / "rec").calls().to_pylist()
    assert [c["kind"] for c in calls] == ["call", "span"]
    assert len({c["call_id"] for c in calls}) == 2 and calls[0]["call_id"] == 2
