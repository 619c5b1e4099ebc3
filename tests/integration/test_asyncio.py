"""asyncio: every task's calls carry the task, across awaits; spans name the same task."""
from __future__ import annotations

from collections import defaultdict

import pytest

from .conftest import TARGETS, query_json, run_scope
from .test_shim import interpreters


@pytest.mark.parametrize("python", interpreters())
def test_calls_are_grouped_by_task(tmp_path, python):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", python, str(TARGETS / "asyncio_tasks.py"))
    assert res.returncode == 0, res.stderr
    calls = query_json(out, "--calls", "--file", "*/asyncio_tasks.py")
    by_task = defaultdict(lambda: defaultdict(int))
    for r in calls:
        by_task[r["task"]][r["function"]] += 1
    tasks = {t: fns for t, fns in by_task.items() if t is not None and "worker" in fns}
    assert len(tasks) == 3
    for fns in tasks.values():
        # one call of each coroutine per task (across its five awaits), five steps
        assert fns["job"] == 1 and fns["worker"] == 1 and fns["step"] == 5
    workers = [r for r in calls if r["function"] == "worker"]
    assert all(r["status"] == "complete" and r["duration_ns"] >= 50e6 for r in workers)
    # the self time of a coroutine counts only while it ran, not while it awaited
    assert all(r["self_ns"] < 0.5 * r["duration_ns"] for r in workers)
    # amain() runs in its own task; the event loop's frames belong to none
    assert by_task[None]["<module>"] == 1
    spans = query_json(out, "--calls", "--kind", "span")
    assert sorted(r["task"] for r in spans) == sorted(tasks)


def test_tasks_view_attributes_waiting_to_each_task(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", "/usr/bin/python3.11", str(TARGETS / "asyncio_tasks.py"))
    assert res.returncode == 0, res.stderr
    jobs = query_json(out, "--tasks", "--function", "job")
    assert len(jobs) == 3
    for r in jobs:
        # five sleeps of 10 ms: resumed five times, waiting nearly all its life
        assert r["resumes"] == 5 and r["waiting_ns"] >= 45e6
        assert r["running_ns"] + r["waiting_ns"] == r["duration_ns"]
