"""--tid and --exclude decided in the eBPF program (uprobe-fed calls, no shim)."""
from __future__ import annotations

import signal
import subprocess
from collections import Counter

from .conftest import Handshake, query_json, scope_cmd, wait_for_line


def record(tmp_path, options):
    """Attach with options(pid) while tests/targets/kernel_filters.py does its work."""
    target = Handshake(tmp_path, "kernel_filters.py")
    out = tmp_path / "rec"
    scope = subprocess.Popen(scope_cmd("attach", str(target.pid), "-o", str(out), *options(target.pid)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(scope.stderr, "recording pid")
        target.go()
        target.wait_done()
        scope.send_signal(signal.SIGINT)
        _, stderr = scope.communicate(timeout=60)
        assert scope.returncode == 0, stderr
    finally:
        target.go()
        target.close()
        if scope.poll() is None:
            scope.kill()
    return out, target.pid


def calls(out) -> list[dict]:
    return query_json(out, "--calls", "--file", "*/kernel_filters.py")


def test_tid_records_only_that_thread(tmp_path):
    out, pid = record(tmp_path, lambda pid: ["--tid", str(pid)])    # the main thread's id is the pid
    rows = calls(out)
    c = Counter(r["function"] for r in rows)
    assert c["main_work"] == 100 and c["thread_work"] == 0 and c["_helper"] == 10_001
    assert {r["tid"] for r in rows} == {pid}


def test_exclude_is_applied_in_the_kernel_once_the_name_is_known(tmp_path):
    out, _ = record(tmp_path, lambda pid: ["--exclude", "_helper"])
    c = Counter(r["function"] for r in calls(out))
    assert c["main_work"] == 100 and c["thread_work"] == 200 and c["_helper"] == 0
    # the kernel reported _helper only until scope knew its name (the first call),
    # never the 10,000 calls after the pause
    returns = query_json(out, "--kind", "return", "--function", "_helper")
    assert len(returns) <= 1
