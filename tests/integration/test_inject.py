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


@pytest.mark.parametrize("asked", [["--inject"], []], ids=["inject", "default"])
def test_inject_records_complete_calls_from_then_on(tmp_path, asked):
    """Asked for, or unasked: the default on CPython 3.11, whose markers give no entries."""
    flags = tmp_path / "flags"
    flags.mkdir()
    target = subprocess.Popen([PYTHON, str(TARGETS / "phases.py"), str(flags), "2500"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline().strip() == "ready"
        assert shim_library(target.pid) is None
        out = tmp_path / "rec"
        scope = subprocess.Popen(scope_cmd("attach", str(target.pid), *asked, "-o", str(out)),
                                 stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        wait_for_line(scope.stderr, "scope: recording pid")
        assert shim_library(target.pid) is not None
        wait_capturing(out)                  # the switch saw the collector: capture is on
        (flags / "go").touch()
        wait_for(flags / "done")
        scope.send_signal(signal.SIGINT)
        stdout, stderr = scope.communicate(timeout=60)
        assert scope.returncode == 0, stderr
        why = "asked for (--inject)" if asked else "the default where the markers lack each call's start and duration"
        assert f"  shim     loaded by scope: {why}\n" in stdout and "lacks" not in stdout
        source = json.loads((out / "session.json").read_text())["target"]["calls"]
        assert source == {"source": "shim", "why": why, "lacks": None, "injection_failed": None,
                          "entries_seen": True}
        calls = query_json(out, "--calls", "--file", "*/phases.py")
        done = Counter(c["function"] for c in calls if c["status"] in kinds.COMPLETED)
        for name, n in {"phase": 1, "outer": 1, "inner": 2500, "outer.<locals>.<genexpr>": 1,
                        "in_thread": 1, "squares": 1}.items():
            assert done[name] == n, (name, done[name])
        events = query_json(out, "--kind", "call", "--file", "*/phases.py", "--function", "inner")
        assert len(events) == 2500           # entries, not just returns
        by_id = {c["call_id"]: c for c in calls}
        parent_of = {"outer": "phase", "outer.<locals>.<genexpr>": "outer", "squares": "in_thread"}
        for c in calls:
            if c["function"] in parent_of:
                assert by_id[c["parent_id"]]["function"] == parent_of[c["function"]]
            if c["function"] == "inner":
                assert by_id[c["parent_id"]]["function"] == "outer.<locals>.<genexpr>"
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


def _attach_for_a_while(tmp_path, pid: int, *options: str) -> tuple[str, dict]:
    out = tmp_path / "rec"
    res = subprocess.run(scope_cmd("attach", str(pid), *options, "--duration", "1", "-o", str(out)),
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    return res.stdout, json.loads((out / "session.json").read_text())["target"]["calls"]


LACKS = ("each call's start and duration: CPython 3.11's markers report returns, and entries only while a "
         "profiler is set")


def test_without_the_shim_the_summary_says_what_the_recording_lacks(tmp_path):
    """--no-inject, or unasked and the shim cannot be loaded (here: the target is
    being traced, by strace, so gdb cannot attach): the markers record, and the
    summary says what that lacks and what would give it; asked for, the same
    target is one clear error."""
    target = subprocess.Popen([PYTHON, str(TARGETS / "looping.py"), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline().strip() == "ready"
        stdout, source = _attach_for_a_while(tmp_path / "no", target.pid, "--no-inject")
        assert f"  lacks    {LACKS}\n           the shim gives them: attach with --inject\n" in stdout
        assert source == {"source": "markers", "why": "asked for (--no-inject)", "lacks": LACKS,
                          "injection_failed": None, "entries_seen": False}     # 3.11: no stack known
        assert shim_library(target.pid) is None
    finally:
        target.kill()
        target.wait()
    traced = subprocess.Popen(["strace", "-f", "-o", "/dev/null", PYTHON, str(TARGETS / "looping.py"), "30"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert traced.stdout.readline().strip() == "ready"
        python = int(subprocess.run(["pgrep", "-P", str(traced.pid)], capture_output=True, text=True, check=True).stdout)
        stdout, source = _attach_for_a_while(tmp_path / "auto", python)
        failed = f"process {python} is being traced by process {traced.pid} (a debugger)"
        assert source["source"] == "markers" and source["lacks"] == LACKS
        assert source["injection_failed"].startswith(failed)
        assert f"  lacks    {LACKS}\n           the shim would give them, but could not be loaded: {failed}" in stdout
        assert "completed" in stdout and shim_library(python) is None
        res = subprocess.run(scope_cmd("attach", str(python), "--inject", "--duration", "1", "-o",
                                       str(tmp_path / "asked")), capture_output=True, text=True, timeout=120, check=False)
        assert res.returncode == 1 and res.stderr.startswith(f"scope: error: {failed}")
        assert len(res.stderr.splitlines()) == 1 and not (tmp_path / "asked").exists()
    finally:
        traced.kill()
        traced.wait()
