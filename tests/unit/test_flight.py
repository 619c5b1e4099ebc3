"""Flight recorder triggers: parsing, and the decisions over synthetic batches;
the hot tier's window and byte bounds count every row they let go."""
from argparse import Namespace

import numpy as np
import pyarrow as pa
import pytest

from scope import kinds
from scope.collector.flight import FlightRecorder, parse_trigger
from scope.commands.recording import flight_recorder
from scope.errors import UsageError
from scope.store.build import events_table
from scope.store.hot import HotTier

from .streams import flagged

NAMES = {(1, 5): "explode", (1, 6): "handle", (1, 9): "ValueError", (1, 20): "os.system"}


def test_parse_triggers():
    assert parse_trigger("exception").pattern is None
    assert parse_trigger("exception:Key*").pattern == "Key*"
    slow = parse_trigger("slow:handle_*>100ms")
    assert (slow.kind, slow.pattern, slow.threshold_ns) == ("slow", "handle_*", 100_000_000)
    assert parse_trigger("audit:os.system").pattern == "os.system"
    for bad in ("boom", "slow:handle", "slow:f>soon", "audit", "signal:9"):
        with pytest.raises(UsageError):
            parse_trigger(bad)


def test_flight_recorder_options_are_checked_against_the_target():
    from scope.commands.recording import check_flight

    def args(**kw):
        return Namespace(**{"flight_recorder": None, "trigger": None, "after": 2 * 10**9, **kw})

    def both(a, version, shim):
        return check_flight(flight_recorder(a), version=version, shim=shim)
    assert both(args(), (3, 11), True) is None
    for a, shim, version in [(args(trigger=["signal"]), True, (3, 11)),
                             (args(flight_recorder=10**9), True, (3, 11)),
                             (args(flight_recorder=10**9, trigger=["exception:KeyError"]), True, (3, 11)),
                             (args(flight_recorder=10**9, trigger=["slow:f>1ms"]), False, (3, 12))]:
        with pytest.raises(UsageError):
            both(a, version, shim)
    fr = both(args(flight_recorder=10**9, trigger=["exception:KeyError"]), (3, 12), True)
    assert fr.window_ns == 10**9 and fr.after_ns == 2 * 10**9


def batch(rows):
    """(ts, kind, code, flags, line) -> records of pid 1, tid 1."""
    return flagged([(ts, 1, kind, code, fl, 0, line) for ts, kind, code, fl, line in rows])


def test_exception_and_audit_fire_at_the_first_matching_event():
    fr = FlightRecorder(10**9, 10**8, [parse_trigger("exception:Value*")])
    fr.check_events(batch([(100, kinds.RETURN, 6, 0, 0), (200, kinds.RETURN, 5, kinds.F_RAISED, 0)]), NAMES)
    assert fr.fired is None                         # type unknown: not a ValueError for sure
    fr.check_events(batch([(300, kinds.RETURN, 5, kinds.F_RAISED, 9), (400, kinds.RETURN, 6, kinds.F_RAISED, 9)]),
                    NAMES)
    assert (fr.fired.ts, fr.fired.what) == (300, "ValueError raised in explode")
    assert not fr.due(300 + 10**8 - 1) and fr.due(300 + 10**8)
    assert fr.window() == (300 - 10**9, 300 + 10**8)
    fr = FlightRecorder(10**9, 0, [parse_trigger("audit:os.*")])
    fr.check_events(batch([(50, kinds.AUDIT, 20, 0, 0)]), NAMES)
    assert fr.fired.what == "audit os.system"


def test_slow_fires_on_a_long_call_of_a_matching_function():
    fr = FlightRecorder(10**9, 0, [parse_trigger("slow:hand*>1ms")])
    cols = {"call_id": np.array([1, 2, 3]), "pid": np.array([1, 1, 1]), "tid": np.array([1, 1, 1]),
            "code_id": np.array([5, 6, 6]), "duration_ns": np.array([5_000_000, 999_999, 2_000_000]),
            "end_ns": np.array([10, 20, 30])}
    fr.check_calls(cols, NAMES)
    assert (fr.fired.ts, fr.fired.what) == (30, "handle took 2.0 ms")


def test_hot_tier_window_and_bytes_count_what_they_evict():
    from scope.store import schema
    hot = HotTier({"events": schema.EVENTS}, window_ns=1000)
    for t0 in range(0, 5000, 500):
        hot.add("events", events_table(batch([(t0 + i, kinds.CALL, 1, 0, 0) for i in range(10)])))
    assert hot.rows["events"] + hot.evicted["events"] == 100
    assert pa.compute.min(hot.snapshot("events")["ts"]).as_py() >= 4509 - 1000 - 500
    small = HotTier({"events": schema.EVENTS}, max_bytes=1)
    for t0 in range(3):
        small.add("events", events_table(batch([(t0, kinds.CALL, 1, 0, 0)])))
    assert (small.rows["events"], small.evicted["events"]) == (1, 2) and small.evicted_until_ns == 1
