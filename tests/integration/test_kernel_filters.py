"""--tid, --pid, --function and --exclude decided in the eBPF program (uprobe-fed calls, no shim)."""
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


def test_function_is_applied_in_the_kernel_once_the_name_is_known(tmp_path):
    out, _ = record(tmp_path, lambda pid: ["--function", "main_work"])
    c = Counter(r["function"] for r in calls(out))
    assert c == Counter({"main_work": 100})
    # as with --exclude: _helper's returns reached scope at most until its name was
    # known (the first), never the 10,000 after the pause (without a filter all
    # 10,001 do: test_tid_records_only_that_thread); the collector keeps none
    assert len(query_json(out, "--kind", "return", "--function", "_helper")) <= 1


def test_pid_with_follow_records_the_calls_of_that_process_only(tmp_path):
    """attach --follow --pid ROOT: the children are followed (their lives are in
    processes) but only the root's calls are recorded."""
    out, pid = record_attached(tmp_path, "children_handshake.py", "fork", "2",
                               options=lambda pid: ["--follow", "--pid", str(pid)])
    rows = query_json(out, "--calls", "--function", "*_leaf")
    assert Counter((r["function"], r["pid"]) for r in rows) == Counter({("parent_leaf", pid): 50})
    procs = query_json(out, "--sql", "select pid, ppid, end_ns from processes")
    children = [p for p in procs if p["ppid"] == pid]
    assert len(children) >= 3 and all(p["end_ns"] for p in children)     # 2 workers and a subprocess
    events = query_json(out, "--sql", "select distinct pid from events where kind in ('call', 'return')")
    assert events == [{"pid": pid}]
