"""The shim: complete calls on every CPython (generators, coroutines, exceptions, late
threads), and application events recorded once, in order, on the right thread."""
from __future__ import annotations

import json
import os
from collections import Counter

import pyarrow.parquet as pq
import pytest

from scope import kinds

from ..interpreters import pyenv_python, pyenv_versions
from .conftest import PYTHON, TARGETS, query_json, run_scope

# completed calls per function in tests/targets/shim_calls.py
KNOWN = {"leaf": 3500, "gen": 350, "consume": 350, "boom": 30, "guarded": 30, "sub": 5,
         "amain": 1, "worker": 3, "main": 1, "<module>": 1}


def interpreters():
    found = [pytest.param(PYTHON, id="debian-3.11")]
    for version in pyenv_versions():
        exe = pyenv_python(version)
        found.append(pytest.param(str(exe), id=f"pyenv-{version}", marks=pytest.mark.skipif(
            not exe.exists(), reason=f"no {exe} (./setup.sh installs it with pyenv)")))
    return found


@pytest.mark.parametrize("python", interpreters())
def test_complete_calls_with_the_shim(tmp_path, python):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", python, str(TARGETS / "shim_calls.py"))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    known = dict(KNOWN)
    if "3.11" in python:
        known["main.<locals>.<listcomp>"] = 1     # [Thread(...) for ...]; inlined on 3.12+ (PEP 709)
    events = query_json(out, "--file", "*/shim_calls.py", "--kind", "call", "--kind", "return")
    entries = Counter(e["function"] for e in events
                      if e["kind"] == "call" and not e["flags"] & kinds.F_RESUME)
    returns = Counter(e["function"] for e in events
                      if e["kind"] == "return" and not e["flags"] & kinds.F_YIELD)
    assert dict(entries) == known
    assert dict(returns) == known
    calls = query_json(out, "--calls", "--file", "*/shim_calls.py")
    done = Counter(c["function"] for c in calls if c["status"] in kinds.COMPLETED)
    assert dict(done) == known
    status = Counter((c["function"], c["status"]) for c in calls)
    assert status[("boom", "raised")] == 30
    assert status[("gen", "complete")] == 350
    # every call's parent is the right function, and the nesting is consistent
    by_id = {c["call_id"]: c for c in calls}
    expected_parent = {"leaf": {"gen"}, "gen": {"consume"}, "consume": {"main", "worker"},
                       "boom": {"guarded"}, "guarded": {"main"}, "sub": {"amain"}, "main": {"<module>"}}
    for c in calls:
        if c["function"] in expected_parent:
            assert by_id[c["parent_id"]]["function"] in expected_parent[c["function"]], c
    # the generator ran in slices: its self time is below its wall duration
    gens = [c for c in calls if c["function"] == "gen"]
    assert all(c["self_ns"] is not None and c["self_ns"] <= c["duration_ns"] for c in gens)
    raised = {(c["function"], c["exception"]) for c in calls if c["status"] == "raised"}
    if "3.11" in python:   # 3.11 hands the profile hook no exception: the type is unknown there
        assert raised == {("boom", None), ("<module>", None)}
    else:
        assert raised == {("boom", "ValueError"), ("<module>", "SystemExit")}
    meta = json.loads((out / "session.json").read_text())
    assert meta["shim"]["loaded"] and meta["shim"]["tracing"][0]["state"] == "on"
    assert sum(meta["drops"].values()) == 0


def test_application_events(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "app_events.py"))
    assert res.returncode == 0, res.stderr
    ev = query_json(out, "--kind", "mark", "--kind", "state", "--kind", "send", "--kind", "recv")
    main_tid = next(e["tid"] for e in ev if e["kind"] == "mark")
    marks = [e for e in ev if e["kind"] == "mark"]
    assert [(m["function"], m["payload"]) for m in marks] == [("start", '{"step":1}'), ("end", None)]
    states = {e["function"]: e for e in ev if e["kind"] == "state"}
    config = json.loads(states["config"]["payload"])
    assert config == {"user": "ann", "password": "[REDACTED]", "nested": {"api_key": "[REDACTED]"}}
    assert states["config"]["flags"] & kinds.F_REDACTED
    big = states["big"]
    assert big["flags"] & kinds.F_TRUNCATED and len(big["payload"].encode()) <= 16 * 1024
    send = [e for e in ev if e["kind"] == "send"]
    recv = [e for e in ev if e["kind"] == "recv"]
    assert [(e["function"], e["payload"], e["tid"]) for e in send] == [("jobs", "42", main_tid)]
    assert len(recv) == 1 and recv[0]["payload"] == "42" and recv[0]["tid"] != main_tid
    edges = query_json(out, "--flow")
    assert len(edges) == 1
    edge = edges[0]
    assert (edge["channel"], edge["msg_id"], edge["send_tid"], edge["recv_tid"]) == (
        "jobs", "42", main_tid, recv[0]["tid"])
    assert edge["latency_ns"] > 0
    assert abs(edge["latency_ns"] - (edge["recv_s"] - edge["send_s"]) * 1e9) < 1000
    # spans: each once, nested right, per thread and per asyncio task
    spans = [c for c in query_json(out, "--calls") if c["kind"] == "span"]
    names = Counter(s["function"] for s in spans)
    assert names == {"outer": 1, "inner": 1, "in-thread": 1, "decorated": 1, "task": 2, "task-inner": 2}
    by_id = {s["call_id"]: s for s in spans}
    parent = {s["function"]: by_id[s["parent_id"]]["function"] if s["parent_id"] else None
              for s in spans if s["function"] not in ("task", "task-inner")}
    assert parent == {"outer": None, "inner": "outer", "in-thread": None, "decorated": None}
    assert next(s for s in spans if s["function"] == "in-thread")["tid"] == recv[0]["tid"]
    tasks = [s for s in spans if s["function"] == "task"]
    assert len({s["task"] for s in tasks}) == 2
    for inner in (s for s in spans if s["function"] == "task-inner"):
        outer = by_id[inner["parent_id"]]
        assert outer["function"] == "task" and outer["task"] == inner["task"]
        assert outer["start_s"] <= inner["start_s"]
    assert all(s["status"] == "complete" for s in spans)
    # spans take part in --top like calls
    top = {r["function"]: r for r in query_json(out, "--top")}
    assert top["task"]["calls"] == 2
    # the secret never reaches disk: read back every string column of every file
    for path in out.rglob("*.parquet"):
        table = pq.read_table(path)
        for name in table.column_names:
            if str(table.schema.field(name).type) in ("string", "dictionary<values=string, indices=int8, ordered=0>"):
                assert not any("hunter2" in (v or "") or "k-123" in (v or "")
                               for v in table[name].cast("string").to_pylist()), (path, name)
    assert b"hunter2" not in b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("python", interpreters())
def test_program_sitecustomize_still_runs_and_nothing_is_printed(tmp_path, python):
    """scope run's boot sitecustomize steps aside for the program's own one."""
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import builtins\nbuiltins.SITE_MARK = 'mine'\n")
    script = tmp_path / "s.py"
    script.write_text("import builtins, sys\nprint(getattr(builtins, 'SITE_MARK', None))\n"
                      "print('scope_shim' in sys.modules)\n")
    env = dict(os.environ, PYTHONPATH=str(own))
    res = run_scope("run", "-o", str(tmp_path / "rec"), "--", python, str(script), env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[:2] == ["mine", "True"]
    assert "sitecustomize" not in res.stderr
    plain = run_scope("run", "-o", str(tmp_path / "rec2"), "--", python, str(script))
    assert plain.stdout.splitlines()[:2] == ["None", "True"] and "Error" not in plain.stderr


def test_deep_recursion_and_recursion_error(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "deep.py"))
    assert res.returncode == 0, res.stderr
    calls = query_json(out, "--calls", "--function", "down")
    assert len(calls) == 3 * 5000 and all(c["status"] == "complete" for c in calls)
    assert max(c["depth"] for c in calls) - min(c["depth"] for c in calls) == 4999
    by_id = {c["call_id"]: c for c in calls}
    assert sum(1 for c in calls if c["parent_id"] not in by_id) == 3     # one outer call per run
    for c in calls:
        if c["parent_id"] in by_id:
            parent = by_id[c["parent_id"]]
            assert parent["depth"] == c["depth"] - 1
            assert parent["start_s"] <= c["start_s"] and c["duration_ns"] <= parent["duration_ns"]
    runaway = query_json(out, "--calls", "--function", "runaway")
    assert runaway and all(c["status"] == "raised" for c in runaway)


def test_min_duration_filters_at_the_source(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "--min-duration", "1ms", "-o", str(out), "--", PYTHON,
                    str(TARGETS / "min_duration.py"))
    assert res.returncode == 0, res.stderr
    calls = query_json(out, "--calls", "--file", "*/min_duration.py")
    assert Counter(c["function"] for c in calls) == {"outer": 4, "slow": 4, "main": 1, "<module>": 1}
    by_id = {c["call_id"]: c for c in calls}
    assert all(by_id[c["parent_id"]]["function"] == "outer" for c in calls if c["function"] == "slow")
    assert all(c["duration_ns"] >= 1_000_000 for c in calls)
    # the short calls never left the target
    assert query_json(out, "--kind", "call", "--function", "fast") == []
    meta = json.loads((out / "session.json").read_text())
    assert meta["min_duration_ns"] == 1_000_000


def test_min_duration_bad_value(tmp_path):
    res = run_scope("run", "--min-duration", "soon", "--", PYTHON, "-c", "1")
    assert res.returncode == 2 and "cannot read duration 'soon'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,expected", [
    (["--function", "handle_*", "--function", "util"], {"handle_a": 30, "handle_b": 20, "util": 50}),
    (["--exclude", "_*"], {"handle_a": 30, "handle_b": 20, "util": 50, "<module>": 1}),
], ids=["function", "exclude"])
def test_function_filters_at_the_source(tmp_path, args, expected):
    out = tmp_path / "rec"
    res = run_scope("run", *args, "-o", str(out), "--", PYTHON, str(TARGETS / "filters.py"))
    assert res.returncode == 0, res.stderr
    calls = query_json(out, "--calls", "--file", "*/filters.py")
    assert Counter(c["function"] for c in calls if c["status"] in kinds.COMPLETED) == expected
    by_id = {c["call_id"]: c for c in calls}
    for c in calls:
        if c["function"] == "util":
            assert by_id[c["parent_id"]]["function"] in ("handle_a", "handle_b")
    assert query_json(out, "--kind", "call", "--function", "_helper") == []   # never left the target


def test_failures_the_shim_swallows_are_counted_and_reported(tmp_path):
    """Undecodable names, a message id whose str() raises, a payload encoder that
    raises: the program sees none of it, and scope reports each by reason."""
    out = tmp_path / "rec"
    script = str(TARGETS / "shim_failures.py")
    res = run_scope("run", "-o", str(out), "--", PYTHON, script)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("program went on\n") and "Traceback" not in res.stderr
    meta = json.loads((out / "session.json").read_text())
    assert meta["shim"]["errors"] == {"message_id": 2, "name": 3, "payload": 4}
    assert "  shim     9 failure(s) swallowed, none raised into the program " \
           "(message_id 2, name 3, payload 4)" in res.stdout
    errors = query_json(out, "--kind", "shim_error")
    assert [r["line"] for r in errors] == list(range(1, 10))     # the process's running count
    # what could be kept was: the marks under their escaped name, the states with empty payloads
    marks = Counter(r["function"] for r in query_json(out, "--kind", "mark"))
    assert marks == {"bad\\udcffname": 3, "after": 1}
    assert len(query_json(out, "--kind", "state")) == 4
    assert query_json(out, "--kind", "send") == []
