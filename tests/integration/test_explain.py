"""`scope explain` on real recordings (`scope run`, Debian's python3.11): each
detector against a program with exactly one planted problem of its kind
(tests/targets/explain.py) finds it, naming the right function with the
evidence the program's own numbers say, and stays silent on the clean twin
of the same shape."""
from __future__ import annotations

import json

import pytest

from .conftest import PYTHON, TARGETS, run_scope

TARGET = str(TARGETS / "explain.py")


def recorded(tmp_path, problem: str, mode: str, *options: str):
    out = tmp_path / "-".join((problem, mode, *options))
    res = run_scope("run", *options, "-o", str(out), "--", PYTHON, TARGET, problem, mode)
    assert res.returncode == 0, res.stderr
    return out


def explained(folder, detector: str) -> dict:
    res = run_scope("explain", str(folder), "--format", "json", "--only", detector)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    return json.loads(res.stdout)


def planted_and_clean(tmp_path, problem: str, detector: str, *options: str) -> list[dict]:
    """The planted version's findings of ``detector``; the clean twin must have none."""
    clean = explained(recorded(tmp_path, problem, "clean", *options), detector)
    assert clean["findings"] == [], clean
    return explained(recorded(tmp_path, problem, "planted", *options), detector)["findings"]


def test_repeated_work(tmp_path):
    (f,) = planted_and_clean(tmp_path, "repeated", "repeated-work")
    ev = f["evidence"]
    assert f["where"]["function"] == "handler_planted" and ev["callee"]["function"] == "fetch_one"
    assert (ev["parent_calls"], ev["callee_calls"], ev["worst"]["callee_calls"]) == (20, 6000, 300)
    assert ev["worst"]["share_of_parent"] > 0.9 and ev["worst"]["stack"][-1] == "handler_planted"
    assert f["where"]["file"] == TARGET


def test_exceptions_as_control_flow(tmp_path):
    (f,) = planted_and_clean(tmp_path, "exceptions", "exceptions")
    ev = f["evidence"]
    assert f["where"]["function"] == "lookup_planted"
    assert (ev["raised"], ev["caught"]) == (2000, 2000)            # two in three of 3,000 keys miss
    assert [(c["function"], c["count"]) for c in ev["caught_by"]] == [("get", 2000)]


def test_a_rare_slow_path(tmp_path):
    (f,) = planted_and_clean(tmp_path, "slow_path", "slow-path")
    ev = f["evidence"]
    assert f["where"]["function"] == "handle" and (ev["calls"], ev["slow_calls"]) == (1000, 10)
    slowest = ev["slowest"]
    assert 50e6 <= slowest["duration_ns"] < 500e6 and slowest["stack"][-2:] == ["slow_path", "handle"]
    assert slowest["spent_in"][0]["function"] == "slow_io" and slowest["spent_in"][0]["time_ns"] >= 50e6
    assert len(ev["slow_call_ids"]) == 10 and slowest["call_id"] in ev["slow_call_ids"]


def test_a_rare_slow_path_says_what_it_waited_on_with_offcpu(tmp_path):
    (f,) = explained(recorded(tmp_path, "slow_path", "planted", "--offcpu"), "slow-path")["findings"]
    waits = f["evidence"]["slowest"]["off_cpu_ns"]
    assert max(waits, key=waits.get) == "sleep" and waits["sleep"] >= 45e6, waits
    plain = explained(recorded(tmp_path, "slow_path", "planted"), "slow-path")
    assert any("--offcpu" in n for n in plain["notes"])


def test_serialized_awaits(tmp_path):
    """5 requests, each awaiting three 50-ms fetches one after another; the twin gathers them."""
    (f,) = planted_and_clean(tmp_path, "awaits", "serialized-awaits")
    ev = f["evidence"]
    assert f["where"]["function"] == "request_planted" and ev["calls"] == 5 and ev["awaited"] == ["fetch"]
    assert len(ev["awaits"]) == 3 and all(50e6 <= a["waited_ns"] < 150e6 for a in ev["awaits"])
    starts = [a["start_s"] for a in ev["awaits"]]
    assert starts == sorted(starts) and starts[1] - starts[0] >= 0.05       # one after another
    assert 5 * 2 * 50e6 <= f["at_stake_ns"] < 5 * 2 * 150e6                # what gathering would save


def test_gc_pressure(tmp_path):
    (f,) = planted_and_clean(tmp_path, "gc", "gc-pressure")
    ev = f["evidence"]
    assert f["share"] >= 0.05 and ev["pauses"] > 10
    assert ev["during"][0]["function"].startswith("build_index")
    assert sum(d["pauses"] for d in ev["during"]) <= ev["pauses"]


def test_an_import_inside_a_call(tmp_path):
    (f,) = planted_and_clean(tmp_path, "import_in_call", "import-cost")
    ev = f["evidence"]
    assert f["where"]["function"] == "serve_first_request" and ev["module"].startswith("slowmod_")
    assert 0.3e9 <= ev["duration_ns"] < 1e9                  # the first of three calls paid it, once


def test_imports_that_dominate_start_up(tmp_path):
    (f,) = planted_and_clean(tmp_path, "import_startup", "import-cost")
    slowest = f["evidence"]["slowest"][0]
    assert slowest["module"].startswith("slowmod_") and 0.3e9 <= slowest["duration_ns"] < 1e9
    assert "sitecustomize" not in {s["module"] for s in f["evidence"]["slowest"]}     # scope's own boot


def test_lock_contention(tmp_path):
    (f,) = planted_and_clean(tmp_path, "locks", "lock-contention", "--offcpu")
    ev = f["evidence"]
    assert f["where"]["function"] == "critical" and len(ev["threads"]) == 4
    # 32 holds of 20 ms, one at a time: the waiting threads sum to well over the 0.64 s held
    assert ev["wait_ns"] >= 0.64e9 and ev["longest"]["duration_ns"] > 20e6
    plain = explained(recorded(tmp_path, "locks", "planted"), "lock-contention")
    assert plain["findings"] == [] and plain["notes"] == [
        "recorded without --offcpu: lock waits cannot be seen (record with scope run/attach --offcpu)"]


def test_hot_spots(tmp_path):
    found = planted_and_clean(tmp_path, "hot", "hot-spots")
    assert found[0]["where"]["function"] == "crunch" and found[0]["evidence"]["share_of_self_time"] >= 0.5


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_the_other_formats_and_bad_input(tmp_path, fmt):
    out = recorded(tmp_path, "repeated", "planted")
    res = run_scope("explain", str(out), "--format", fmt)
    assert res.returncode == 0 and "fetch_one" in res.stdout.replace("\\_", "_") and "handler_planted" in \
        res.stdout.replace("\\_", "_")
    for bad in (["--threshold", "nope=1"], ["--only", "nope"]):
        res = run_scope("explain", str(out), *bad)
        assert res.returncode == 2 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 2


def test_llm_narrative_from_the_findings_only(tmp_path):
    """--llm with the mock provider: the prompt holds every finding's title and
    place, and none of the payloads and state values the program recorded
    (which the recording does hold: the positive control)."""
    import os
    out = recorded(tmp_path, "secrets", "planted")
    held = run_scope("query", str(out), "--kind", "state", "--kind", "mark", "--format", "json").stdout
    assert "ann-STATE-789" in held and "PAYLOAD-SECRET-456" in held
    titles = [f["title"] for f in explained(out, "repeated-work")["findings"]]
    assert titles
    prompt = tmp_path / "prompt.txt"
    env = dict(os.environ, SCOPE_LLM_PROVIDER="mock", SCOPE_LLM_MOCK_PROMPT=str(prompt))
    res = run_scope("explain", str(out), "--llm", env=env)
    assert res.returncode == 0 and "mock narrative" in res.stdout, res.stderr
    text = prompt.read_text()
    assert all(t in text for t in titles) and "handler_planted" in text and "fetch_one" in text
    for secret in ("ann-STATE-789", "eu-STATE-321", "PAYLOAD-SECRET-456", "def fetch_one"):
        assert secret not in text, secret
    res = run_scope("explain", str(out), "--llm", "--format", "json", env=env)
    assert json.loads(res.stdout)["narrative"].startswith("(mock narrative")
    # no provider configured: one line saying how, before any work
    bare = {k: v for k, v in os.environ.items() if not k.startswith("SCOPE_LLM")}
    res = run_scope("explain", str(out), "--llm", env=bare)
    assert res.returncode == 2 and "SCOPE_LLM_URL" in res.stderr and "Traceback" not in res.stderr
