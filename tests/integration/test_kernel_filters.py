"""--tid and --exclude decided in the eBPF program (uprobe-fed calls, no shim)."""
from __future__ import annotations

from collections import Counter

from .conftest import query_json, record_attached


def record(tmp_path, options):
    """Attach with options(pid) while tests/targets/kernel_filters.py does its work."""
    return record_attached(tmp_path, "kernel_filters.py", options=options)


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
