"""`scope attach --inject`: complete calls in a process that never imported the shim."""
from __future__ import annotations

import json
import signal
import subprocess
from collections import Counter

import pytest

from scope import kinds
from scope.probes.shim import shim_library

from .conftest import PYTHON, TARGETS, query_json, scope_cmd, wait_capturing, wait_for, wait_for_line, wait_until
from .test_attach import assert_nothing_attached
from .test_shim import interpreters


def test_inject_records_complete_calls_from_then_on(tmp_path):
    flags = tmp_path / "flags"
    flags.mkdir()
    target = subprocess.Popen([PYTHON, str(TARGETS / "phases.py"), str(flags), "2500"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline().strip() == "ready"
        assert shim_library(target.pid) is None
        out = tmp_path / "rec"
        scope = subprocess.Popen(scope_cmd("attach", str(target.pid), "--inject", "-o", str(out)),
                                 stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        wait_for_line(scope.stderr, "scope: recording pid")
        assert shim_library(target.pid) is not None
        wait_capturing(out)                  # the switch saw the collector: capture is on
        (flags / "go").touch()
        wait_for(flags / "done")
        scope.send_signal(signal.SIGINT)
        _, stderr = scope.communicate(timeout=60)
        assert scope.returncode == 0, stderr
        calls = query_json(out, "--calls", "--file", "*/phases.py")
        done = Counter(c["function"] for c in calls if c["status"] in kinds.COMPLETED)
        for name, n in {"phase": 1, "outer": 1, "inner": 2500, "<genexpr>": 1,
                        "in_thread": 1, "squares": 1}.items():
            assert done[name] == n, (name, done[name])
        events = query_json(out, "--kind", "call", "--file", "*/phases.py", "--function", "inner")
        assert len(events) == 2500           # entries, not just returns
        by_id = {c["call_id"]: c for c in calls}
        parent_of = {"outer": "phase", "<genexpr>": "outer", "squares": "in_thread"}
        for c in calls:
            if c["function"] in parent_of:
                assert by_id[c["parent_id"]]["function"] == parent_of[c["function"]]
            if c["function"] == "inner":
                assert by_id[c["parent_id"]]["function"] == "<genexpr>"
                assert c["duration_ns"] is not None and c["status"] == "complete"
        meta = json.loads((out / "session.json").read_text())
        assert [t["state"] for t in meta["shim"]["tracing"]][:1] == ["on"]
        # after detach: probes gone, semaphores down, and the shim switched tracing off
        assert target.poll() is None
        assert_nothing_attached(target.pid)

        def report():                        # the target's answer, asked again until off
            (flags / "report.json").unlink(missing_ok=True)
            (flags / "report").touch()
            wait_for(flags / "report.json")
            return json.loads((flags / "report.json").read_text())
        wait_until(lambda: not report()["switch_on"], "the shim switched capture off")
        assert report() == {"switch_on": False, "thread_hook": "None"}
    finally:
        target.kill()
        target.wait()


def test_attach_uses_a_shim_the_program_loaded_itself(tmp_path):
    """No --inject: the target imported scope_shim on its own; scope finds it in its maps."""
    import os
    from scope.probes.shim import build_shim, preload_env
    flags = tmp_path / "flags"
    flags.mkdir()
    env = preload_env(build_shim(PYTHON), dict(os.environ))
    target = subprocess.Popen([PYTHON, str(TARGETS / "phases.py"), str(flags), "300"],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert target.stdout.readline().strip() == "ready"
        assert shim_library(target.pid) is not None
        out = tmp_path / "rec"
        scope = subprocess.Popen(scope_cmd("attach", str(target.pid), "-o", str(out)),
                                 stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        wait_for_line(scope.stderr, "scope: recording pid")
        wait_capturing(out)
        (flags / "go").touch()
        wait_for(flags / "done")
        scope.send_signal(signal.SIGINT)
        _, stderr = scope.communicate(timeout=60)
        assert scope.returncode == 0, stderr
        meta = json.loads((out / "session.json").read_text())
        used = {p["marker"] for p in meta["probes"] if p["used"]}
        assert {"scope:ring", "scope:code", "scope:tracing"} <= used
        assert not used & {"python:function__return", "scope:ret"}     # not counted twice
        assert meta["shim"]["transport"] == "shared-memory ring"
        calls = query_json(out, "--calls", "--function", "inner")
        assert len(calls) == 300 and all(c["status"] == "complete" for c in calls)
    finally:
        target.kill()
        target.wait()


CASES = [pytest.param(PYTHON, "join", id="debian-3.11-join")] + [
    pytest.param(p.values[0], "sleep", id=f"{p.id}-sleep", marks=p.marks) for p in interpreters()]


@pytest.mark.parametrize("python,mode", CASES)
def test_inject_when_the_main_thread_is_blocked(tmp_path, python, mode):
    """Also into interpreters without any USDT marker (pyenv's): the shim brings its own."""
    target = subprocess.Popen([python, str(TARGETS / "blocked_main.py"), mode],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline().strip() == "ready"
        out = tmp_path / "rec"
        res = subprocess.run(scope_cmd("attach", str(target.pid), "--inject", "--duration", "1",
                                       "-o", str(out)), capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        assert shim_library(target.pid) is not None
        calls = query_json(out, "--calls", "--function", "work", "--limit", "100")
        assert calls and all(c["duration_ns"] is not None for c in calls if c["status"] == "complete")
        assert sum(c["status"] == "complete" for c in calls) >= 50
        assert target.poll() is None
    finally:
        target.kill()
        target.wait()
