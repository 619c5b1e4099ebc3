"""The flight recorder on real traced processes: nothing written until a trigger
fires; then exactly the window before it and the --after time following it."""
import json
import signal

import pytest

from .conftest import live_top, query_json, shim_target_attached, wait_capturing, wait_for, wait_until

WINDOW, AFTER = 0.5, 0.3


def flight(tmp_path, mode, *triggers):
    opts = ["--flight-recorder", f"{WINDOW}s", "--after", f"{AFTER}s"]
    for t in triggers:
        opts += ["--trigger", t]
    with shim_target_attached(tmp_path, "flight.py", str(tmp_path), mode, options=tuple(opts)) as (_, scope, out):
        wait_capturing(out)
        assert sorted(p.name for p in out.iterdir()) == [".lock", "events", "live.sock"]   # nothing yet
        (tmp_path / "go").touch()
        wait_for(tmp_path / "steps.json")
        if scope.poll() is None:
            scope.send_signal(signal.SIGINT)
        stdout, stderr = scope.communicate(timeout=60)
        assert scope.returncode == 0, stderr
        return out, stdout, json.loads((tmp_path / "steps.json").read_text())


def check_window(out, steps, fired_what):
    meta = json.loads((out / "session.json").read_text())
    fr = meta["flight_recorder"]
    assert fr["fired"] and fired_what in fr["what"]
    lo, hi = fr["from_ns"], fr["until_ns"]
    assert hi - lo == pytest.approx((WINDOW + AFTER) * 1e9, abs=1e6)
    calls = query_json(out, "--calls", "--function", "step")
    start = meta["started_ns"]
    ends = [start + c["start_s"] * 1e9 + c["duration_ns"] for c in calls]
    assert all(lo - 1e6 <= e <= hi + 1e6 for e in ends)                # nothing from before the window
    expected = sum(1 for t in steps if lo <= t <= hi)
    assert abs(len(calls) - expected) <= 1, (len(calls), expected)     # and all of it
    assert sum(meta["drops"].values()) == 0
    return meta, calls


def test_exception_trigger_writes_the_window_around_it(tmp_path):
    out, stdout, steps = flight(tmp_path, "exception", "exception")
    assert "fired by exception (an exception raised in explode)" in stdout
    meta, _ = check_window(out, steps, "raised in explode")
    raised = query_json(out, "--calls", "--function", "explode")
    assert [(r["status"], r["call_id"] is not None) for r in raised] == [("raised", True)]
    fired_at = meta["flight_recorder"]["ts"]
    # the step that exploded: after its own timestamp, before the next step's (steps are
    # 5 ms apart; how long after its timestamp the raise came depends on the machine's load)
    assert steps[200] <= fired_at < steps[201], (fired_at - steps[200], steps[201] - steps[200])
    assert meta["flight_recorder"]["left_out"]["events"] > 0


@pytest.mark.parametrize("mode, triggers, what", [
    ("audit", ["audit:scope.test.*"], "audit scope.test.alarm"),
    ("slow", ["slow:st?p>50ms", "audit:never.*"], "step took"),
])
def test_audit_and_slow_triggers(tmp_path, mode, triggers, what):
    out, _, steps = flight(tmp_path, mode, *triggers)
    meta, calls = check_window(out, steps, what)
    if mode == "slow":
        assert max(c["duration_ns"] for c in calls) >= 80e6


def test_nothing_is_written_when_no_trigger_fires(tmp_path):
    opts = ("--flight-recorder", "1s", "--trigger", "exception", "--trigger", "signal")
    with shim_target_attached(tmp_path, "flight.py", str(tmp_path), "none", options=opts) as (_, scope, out):
        wait_capturing(out)
        (tmp_path / "go").touch()
        wait_until(lambda: live_top(out, "--live").get("step", 0) >= 50, "steps held in memory")
        scope.send_signal(signal.SIGINT)
        stdout, stderr = scope.communicate(timeout=60)
        assert scope.returncode == 0, stderr
        assert "no trigger (exception, signal) fired" in stdout and "nothing written" in stdout
        assert not out.exists()


def test_signal_trigger(tmp_path):
    opts = ("--flight-recorder", "0.5s", "--after", "0.2s", "--trigger", "signal")
    with shim_target_attached(tmp_path, "flight.py", str(tmp_path), "none", options=opts) as (_, scope, out):
        wait_capturing(out)
        (tmp_path / "go").touch()
        # more than the window's worth of steps (every 5 ms) before the signal
        wait_until(lambda: live_top(out, "--live").get("step", 0) >= 150, "a full window of steps")
        scope.send_signal(signal.SIGUSR1)
        stdout, stderr = scope.communicate(timeout=60)
        assert scope.returncode == 0, stderr
        assert "fired by signal (SIGUSR1)" in stdout
        steps = query_json(out, "--calls", "--function", "step")
        assert 60 <= len(steps) <= 140            # 0.7 s of 5 ms steps (with their own run time)
