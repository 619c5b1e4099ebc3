"""--offcpu: why and how long each thread was off CPU, under the call that was running."""
from __future__ import annotations

from collections import defaultdict

from .conftest import PYTHON, TARGETS, query_json, run_scope

# (function, reason) -> seconds, as tests/targets/offcpu.py is written
EXPECTED = {("sleeper", "sleep"): 0.2, ("locker", "lock"): 0.3, ("reader", "io"): 0.25}


def test_offcpu_reasons_and_durations(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "--offcpu", "-o", str(out), "--", PYTHON, str(TARGETS / "offcpu.py"))
    assert res.returncode == 0, res.stderr
    rows = query_json(out, "--offcpu", "--file", "*/offcpu.py")
    total = defaultdict(float)
    for r in rows:
        total[(r["function"], r["reason"])] += r["duration_ns"] / 1e9
    for key, seconds in EXPECTED.items():
        assert abs(total[key] - seconds) <= 0.1 * seconds, (key, total[key])
    # the long waits land on the right thread: the main one
    main_tid = res.stdout and next(r["tid"] for r in rows if r["function"] == "sleeper")
    assert {r["tid"] for r in rows if r["function"] in ("locker", "reader")} == {main_tid}
    assert all(r["call_id"] is not None for r in rows if (r["function"], r["reason"]) in EXPECTED)


def test_top_splits_time_on_cpu_from_waiting(tmp_path):
    """With --offcpu, --top splits each function's self time into CPU and waiting;
    --hide-idle leaves the usual waiting frames out; without --offcpu the table
    says that times include waiting."""
    out = tmp_path / "rec"
    assert run_scope("run", "--offcpu", "-o", str(out), "--", PYTHON, str(TARGETS / "offcpu.py")).returncode == 0
    top = {r["function"]: r for r in query_json(out, "--top")}
    for row in top.values():
        if row["self_ns"] is not None:
            assert row["self_cpu_ns"] + row["self_wait_ns"] == row["self_ns"], row
    for (function, _), seconds in EXPECTED.items():
        assert abs(top[function]["self_wait_ns"] / 1e9 - seconds) <= 0.1 * seconds, top[function]
        assert top[function]["self_cpu_ns"] < top[function]["self_wait_ns"] / 10    # it only waited
    wait = top["Condition.wait"]
    assert abs(wait["self_wait_ns"] / 1e9 - 0.15) <= 0.015 and wait["file"].endswith("/threading.py")
    hidden = {r["function"] for r in query_json(out, "--top", "--hide-idle")}
    assert "Condition.wait" not in hidden and "Event.wait" not in hidden and "waiter" in hidden
    plain = tmp_path / "plain"
    assert run_scope("run", "-o", str(plain), "--", PYTHON, str(TARGETS / "offcpu.py")).returncode == 0
    rows = query_json(plain, "--top")
    assert rows and all(r["self_cpu_ns"] is None and r["self_wait_ns"] is None for r in rows)
    table = run_scope("query", str(plain), "--top", "--format", "table")
    assert "(times include waiting: record with --offcpu" in table.stdout and "self_wait" not in table.stdout


def test_offcpu_needs_the_flag(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, "-c", "pass")
    assert res.returncode == 0, res.stderr
    q = run_scope("query", "--parquet", str(out), "--offcpu")
    assert q.returncode == 1 and "record with --offcpu" in q.stderr and "Traceback" not in q.stderr
