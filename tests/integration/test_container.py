"""Targets in containers: their root filesystem mounted only in their own mount
namespace, their own PID namespace (tests/container/container.py), Debian
unstable's python3.15 inside (its USDT markers; it cannot run on the host).

scope reaches the target's own binaries (not the host's files of the same
name), records exact counts, shows thread ids as the host's and keeps the
target's own, leaves nothing in the container, and changes none of its output.

The workload has no generator: 3.15's entry marker also fires when a generator
function's frame merely creates the generator (RETURN_GENERATOR), with no
return marker after it, so such a call stays open and ends "broken" (found
here: tests/targets/contained.py's history; README, "Python versions").
"""
from __future__ import annotations

import json
import signal
import subprocess

import pytest

from tests.container.container import IMAGE, Container

from .conftest import (
    TARGETS,
    live_top,
    query_json,
    run_scope,
    scope_cmd,
    top_counts,
    wait_for_line,
    wait_until,
)

WORKLOAD = "contained.py"


def fib_calls(n: int) -> int:
    return 1 if n < 2 else 1 + fib_calls(n - 1) + fib_calls(n - 2)


FIB_MAIN = sum(fib_calls(i) for i in range(12))     # work()
FIB_THREAD = sum(fib_calls(i) for i in range(10))   # in_thread()


@pytest.fixture
def image():
    if not IMAGE.exists():
        pytest.skip(f"{IMAGE} is missing (./setup.sh builds it: tests/container/build.sh)")
    return IMAGE


def start(tmp_path, python: str, name: str = "c") -> tuple[Container, subprocess.Popen, int]:
    box = Container(tmp_path / name, [python, f"/targets/{WORKLOAD}"], binds={"/targets": str(TARGETS)})
    proc = box.start(stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    return box, proc, box.pid()


def finish(proc: subprocess.Popen, before_end=lambda: None) -> str:
    """Let the workload run to its end; what it printed after "ready"."""
    proc.stdin.write("go\n")
    proc.stdin.flush()
    lines = [proc.stdout.readline() for _ in range(3)]
    assert lines[-1] == "done\n", lines
    before_end()
    proc.stdin.write("end\n")
    proc.stdin.close()
    lines.append(proc.stdout.read())
    assert proc.wait(30) == 0
    return "".join(lines)


@pytest.mark.parametrize("python", ["/usr/bin/python3.15"])
def test_attach_to_a_container_records_exactly_and_leaves_nothing(tmp_path, image, python):
    # the same workload, not traced: what it prints and what it writes to its root
    box, proc, _ = start(tmp_path, python, "plain")
    try:
        plain = finish(proc)
    finally:
        box.stop()
    written_plain = box.written()

    box, proc, pid = start(tmp_path, python)
    try:
        doctor = run_scope("doctor", "--pid", str(pid))
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "container       pid 1 in its own PID namespace" in doctor.stdout
        assert f"its files are reached through /proc/{pid}/root" in doctor.stdout
        assert "python:function__entry" in doctor.stdout        # its own binary's markers
        assert f"{python}: 12 USDT marker sites (reached through its mapping)" in doctor.stdout
        # the shim cannot go into a container yet: said in one line, nothing attached
        res = run_scope("attach", str(pid), "--inject", "-o", str(tmp_path / "inj"))
        assert res.returncode == 1 and "Traceback" not in res.stderr
        assert res.stderr.startswith(f"scope: error: cannot load the shim into process {pid}: it runs in a "
                                     "container") and len(res.stderr.strip().splitlines()) <= 2, res.stderr
        out = tmp_path / "rec"
        scope = subprocess.Popen(scope_cmd("attach", str(pid), "-o", str(out)), stderr=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        wait_for_line(scope.stderr, "scope: recording pid")
        # its threads still live when the collector first sees them (it asks their
        # own ids then): every fib() call seen live
        printed = finish(proc, lambda: wait_until(lambda: live_top(out, "--live").get("fib") == FIB_MAIN + FIB_THREAD,
                                                  "every fib() call seen live"))
        scope.send_signal(signal.SIGINT)
        _, err = scope.communicate(timeout=60)
        assert scope.returncode == 0, err
    finally:
        box.stop()
    # its output is unchanged by scope, byte for byte
    assert printed == plain
    # exact counts, through the container's own python3.15 and its markers
    counts = top_counts(out, f"*/{WORKLOAD}")
    assert counts["fib"] == FIB_MAIN + FIB_THREAD
    assert counts["work"] == 1 and counts["in_thread"] == 1
    calls = query_json(out, "--sql", "select status, count(*) n from calls group by status")
    assert {r["status"]: r["n"] for r in calls}.get("broken", 0) == 0
    # both views of the process and its threads: the host's ids, and its own
    meta = json.loads((out / "session.json").read_text())
    assert meta["target"]["pid"] == pid and meta["target"]["nspid"] == [pid, 1]
    assert meta["target"]["own_mounts"] is True
    main_tid, thread_tid = (int(line.split()[1]) for line in printed.splitlines()[:2])
    assert main_tid == 1
    threads = query_json(out, "--sql", "select tid, ns_tid from threads where ns_tid is not null")
    own = {r["ns_tid"]: r["tid"] for r in threads}
    assert own[1] == pid and own[thread_tid] not in (thread_tid, pid)
    in_thread = query_json(out, "--sql", "select distinct c.tid from calls c join code k on k.pid = c.pid "
                           "and k.code_id = c.code_id where k.function = 'in_thread'")
    assert [r["tid"] for r in in_thread] == [own[thread_tid]]
    # nothing of scope's in the container: it wrote what it writes untraced
    assert box.written() == written_plain
