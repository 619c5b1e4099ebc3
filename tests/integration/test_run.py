"""`scope run`: recording from the first instruction, exact counts against ground truth."""
from __future__ import annotations

import json

from .conftest import PYTHON, TARGETS, query_json, run_scope, scope_cmd, top_counts

# completed calls per function in tests/targets/known_calls.py
KNOWN = {
    "leaf": 12_345 + 1_000 + 500 + 4 * 250 * 2,
    "middle": 1 + 4 * 250,
    "recurse": 301,
    "fails": 77,          # ends by an exception: CPython 3.11 still reports its return
    "catches": 77,
    "Box.method": 500,    # qualified names (co_qualname, recorded by the shim)
    "thread_work": 4,
    "main": 1,
    "<module>": 1,
    "Box": 1,             # the class body is a code object run once
    "main.<locals>.<listcomp>": 1,      # [threading.Thread(...) for ...]
}


def test_run_counts_every_completed_call_exactly(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "known_calls.py"))
    assert res.returncode == 3, res.stderr          # the program's own exit code
    assert "Traceback" not in res.stderr
    assert top_counts(out, "*/known_calls.py") == KNOWN
    meta = json.loads((out / "session.json").read_text())
    assert meta["stop_reason"] == "target exited"
    assert sum(meta["drops"].values()) == 0
    assert meta["target"]["python_version"] == "3.11"
    probes = {p["marker"]: p for p in meta["probes"]}
    assert probes["python:line"]["used"] is False
    # one thread per worker plus the main thread recorded calls of the workload
    tids = {r["tid"] for r in query_json(out, "--calls", "--function", "thread_work")}
    assert len(tids) == 4
    # the interpreter's start-up is there too (probes attached before the first instruction)
    imports = query_json(out, "--kind", "import_start")
    assert any(r["function"] == "encodings" for r in imports)
    assert "calls" in res.stdout and str(out) in res.stdout
    import pyarrow.parquet as pq
    assert pq.read_table(out / "processes.parquet")["exit_code"].to_pylist() == [3]


def test_run_gc_and_import_events(tmp_path):
    script = tmp_path / "gc_import.py"
    script.write_text("import gc, json\nfor _ in range(5):\n    gc.collect()\n")
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(script))
    assert res.returncode == 0, res.stderr
    gc_done = query_json(out, "--kind", "gc_done")
    gc_start = query_json(out, "--kind", "gc_start")
    assert len(gc_start) == len(gc_done) >= 5
    assert sum(1 for r in gc_start if r["arg"] == 2) >= 5      # gc.collect() is generation 2
    assert any(r["function"] == "json" for r in query_json(out, "--kind", "import_start"))


def test_threads_started_and_ended_during_the_recording(tmp_path):
    import pyarrow.parquet as pq
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "threads_churn.py"))
    assert res.returncode == 0, res.stderr
    threads = pq.read_table(out / "threads.parquet").to_pylist()
    shim_thread = set(json.loads((out / "session.json").read_text())["shim"]["switch_threads"])
    assert len(shim_thread) == 1          # scope_shim's switch, started by `scope run`'s preload
    workers = [t for t in threads if t["started_ns"] is not None and t["tid"] not in shim_thread]
    assert len(workers) == 20
    assert all(t["exited_ns"] is not None and t["started_ns"] < t["exited_ns"] for t in workers)
    main = [t for t in threads if t["tid"] == t["pid"]]
    assert len(main) == 1 and main[0]["exited_ns"] is not None      # the process ended while recorded
    starts = query_json(out, "--kind", "thread_start")
    exits = query_json(out, "--kind", "thread_exit")
    assert len(starts) == 21 and len(exits) == 21    # the switch thread too (it ends just before the process)
    calls = query_json(out, "--calls", "--function", "work")
    assert len(calls) == 200 and len({c["tid"] for c in calls}) == 20
    assert {c["tid"] for c in calls} == {t["tid"] for t in workers}


def test_a_store_of_two_real_recordings_answers_as_one(tmp_path):
    """Two processes recorded separately: --sql joins across them, --top sums them,
    and rows keep which recording (process) they came from."""
    store = tmp_path / "store"
    for name in ("one", "two"):
        res = run_scope("run", "-o", str(store / name), "--", PYTHON, str(TARGETS / "known_calls.py"))
        assert res.returncode == 3, res.stderr
    rows = query_json(store, "--sql", "select c.recording, count(distinct c.pid) as pids, count(*) as n "
                      "from calls c join code k on k.recording = c.recording and k.pid = c.pid "
                      "and k.code_id = c.code_id where k.function = 'leaf' and c.status = 'complete' "
                      "group by 1 order by 1")
    assert [(r["pids"], r["n"]) for r in rows] == [(1, KNOWN["leaf"])] * 2
    assert len({r["recording"] for r in rows}) == 2
    assert top_counts(store, "*/known_calls.py") == {k: 2 * v for k, v in KNOWN.items()}
    pids = {r["recording"]: r["pid"] for r in query_json(store, "--calls", "--function", "main")}
    assert sorted(pids) == ["one", "two"] and pids["one"] != pids["two"]


def start_in_own_group(out, *cmd):
    """`scope run` as a terminal would start it: its own process group, which
    Ctrl-C signals as a whole (scope and the program)."""
    import subprocess
    return subprocess.Popen(scope_cmd("run", "-o", str(out), "--", *cmd), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_ctrl_c_reaches_the_program_and_the_recording_ends_with_it(tmp_path):
    import os
    import signal
    out = tmp_path / "rec"
    scope = start_in_own_group(out, PYTHON, str(TARGETS / "interruptible.py"), "exit")
    try:
        assert scope.stdout.readline() == "ready\n"          # the program's line
        os.killpg(scope.pid, signal.SIGINT)                  # Ctrl-C: the whole group
        stdout, stderr = scope.communicate(timeout=60)
    finally:
        if scope.poll() is None:
            os.killpg(scope.pid, signal.SIGKILL)
    assert scope.returncode == 3, stderr                     # the program's exit code
    assert stdout.startswith("interrupted\n") and "stopped by target exited" in stdout
    assert json.loads((out / "session.json").read_text())["stop_reason"] == "target exited"
    counts = top_counts(out, "*/interruptible.py")
    assert (counts["phase"], counts["cleanup"]) == (300, 40)


def test_a_second_signal_stops_the_recording_and_the_program_runs_on(tmp_path):
    """The program keeps scope's stdout open after scope leaves, so its output
    goes to a file here (a pipe would not end)."""
    import os
    import signal
    import subprocess

    import psutil

    from .conftest import wait_until
    out, log, errors = tmp_path / "rec", tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(log, "w") as sink, open(errors, "w") as err_sink:
        scope = subprocess.Popen(scope_cmd("run", "-o", str(out), "--", PYTHON, str(TARGETS / "interruptible.py"),
                                           "stay", str(tmp_path)), stdout=sink, stderr=err_sink,
                                 text=True, start_new_session=True)
    program = None
    try:
        wait_until(lambda: log.read_text().startswith("ready\n"), "the program is ready")
        program = next(p for p in psutil.Process(scope.pid).children(recursive=True)
                       if "interruptible.py" in " ".join(p.cmdline()))
        os.killpg(scope.pid, signal.SIGINT)                  # the first: the program's to handle
        wait_until(lambda: "got SIGINT\n" in log.read_text(), "the program handled it")
        # scope says when it has taken the first (two signals at once are one)
        wait_until(lambda: "another signal stops recording" in errors.read_text(), "scope took the first")
        assert scope.poll() is None                          # still recording
        scope.send_signal(signal.SIGINT)                     # the second: stop recording now
        try:
            code = scope.wait(timeout=60)
        except subprocess.TimeoutExpired:
            dump = subprocess.run(["py-spy", "dump", "--pid", str(scope.pid)], capture_output=True, text=True)
            raise AssertionError(f"scope did not stop: {errors.read_text()}\n{dump.stdout}{dump.stderr}")
        assert code == 0, errors.read_text()
        assert "stopped by signal" in log.read_text()
        assert program.is_running() and program.status() != psutil.STATUS_ZOMBIE   # it runs on
        meta = json.loads((out / "session.json").read_text())
        assert meta["stop_reason"] == "signal"
        assert top_counts(out, "*/interruptible.py")["tick"] >= 1
        assert run_scope("store", "verify", str(out)).returncode == 0
    finally:
        (tmp_path / "stop").touch()
        if program is not None:
            program.wait(timeout=30)                         # it ends on its own, unharmed
        if scope.poll() is None:
            os.killpg(scope.pid, signal.SIGKILL)
