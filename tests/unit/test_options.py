import argparse

import pytest

from scope.collector.tables import filtered_out
from scope.commands.recording import call_filters
from scope.errors import UsageError
from scope.units import parse_duration


@pytest.mark.parametrize("text,ns", [("1ms", 1_000_000), ("250us", 250_000), ("250µs", 250_000),
                                     ("0.5s", 500_000_000), ("2", 2_000_000_000), ("100ns", 100)])
def test_durations(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "ms", "1 hour", "-1ms", "1e3ms"])
def test_bad_durations(text):
    with pytest.raises(argparse.ArgumentTypeError, match="cannot read duration"):
        parse_duration(text)


def test_filters_encode_like_the_shim_reads_them():
    args = argparse.Namespace(keep=["handle_*"], exclude=["_*", "log"])
    assert call_filters(args) == ["+handle_*", "-_*", "-log"]
    rules = call_filters(args)
    assert not filtered_out("handle_get", rules)
    assert filtered_out("util", rules)                 # not kept by any +glob
    assert filtered_out("_handle", rules)
    assert not filtered_out("x", ["-_*"])              # only excludes: the rest stays


def test_filters_too_long_or_empty():
    with pytest.raises(UsageError, match="too long"):
        call_filters(argparse.Namespace(keep=["x" * 3000], exclude=None))
    with pytest.raises(UsageError, match="non-empty glob"):
        call_filters(argparse.Namespace(keep=[""], exclude=None))


def test_calls_across_a_capture_gap_claim_no_self_time():
    """--max-overhead: a call spanning a gap is spans_gap (complete) and has no self
    time — its children in the gap were not seen; calls outside keep theirs."""
    import numpy as np

    from scope.collector.tables import mark_gaps
    cols = {"call_id": np.array([1, 2, 3, 4]), "pid": np.array([7, 7, 7, 8]),
            "start_ns": np.array([0, 10, 300, 10]), "end_ns": np.array([1000, 50, 400, 1000]),
            "self_ns": np.array([5128, 40, 100, 900]),
            "status": ["complete", "complete", "complete", "start_unseen"]}
    out = mark_gaps(cols, [{"pid": 7, "start_ns": 100, "end_ns": 200}])
    assert out["status"] == ["spans_gap", "complete", "complete", "start_unseen"]
    assert out["self_ns"].tolist() == [-1, 40, 100, 900]          # -1: null in these columns
    everyone = mark_gaps(cols, [{"pid": None, "start_ns": 100, "end_ns": 200}])
    assert everyone["status"][3] == "start_unseen" and everyone["self_ns"].tolist() == [-1, 40, 100, -1]
