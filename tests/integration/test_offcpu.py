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


def test_offcpu_needs_the_flag(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, "-c", "pass")
    assert res.returncode == 0, res.stderr
    q = run_scope("query", "--parquet", str(out), "--offcpu")
    assert q.returncode == 1 and "record with --offcpu" in q.stderr and "Traceback" not in q.stderr
