"""Faults scope must survive (tests/RELIABILITY.md lists them all): targets that
are not what they seem, many children and threads, a full disk, two sessions,
another user, another PID namespace. Each either works — checked against
ground truth — or stops with one clear line on stderr and no traceback."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from .conftest import (
    PYTHON,
    TARGETS,
    Handshake,
    attach_scope,
    live_top,
    query_json,
    run_scope,
    scope_cmd,
    start_with_shim,
    top_counts,
    wait_for_line,
    wait_tracing_on,
    wait_until,
)


def one_line(res, code=1):
    assert res.returncode == code, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scope: error:") and "Traceback" not in res.stderr, lines
    return lines[0]


def test_targets_that_are_not_live_python():
    sleeper = subprocess.Popen(["sleep", "30"])
    # a parent that never waits for its child: the child stays a zombie
    parent = subprocess.Popen([PYTHON, "-c", "import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\n"
                               "os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)\n"
                               "print(pid, flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    zombie = int(parent.stdout.readline())          # exited, not reaped
    try:
        assert "not" in one_line(run_scope("attach", str(sleeper.pid), "--duration", "1")).lower()
        assert "zombie" in one_line(run_scope("attach", str(zombie), "--duration", "1"))
        assert "no process" in one_line(run_scope("attach", "4194000", "--duration", "1"))
    finally:
        for p in (sleeper, parent):
            p.kill()
            p.wait()


def test_a_target_that_exits_right_after_scope_attached(tmp_path):
    """Held at a known point: scope is recording when the target is told to finish
    its phase and exit. The recording is complete and exact."""
    target = Handshake(tmp_path, "waiting.py", "321", "exit")
    try:
        out = tmp_path / "rec"
        scope = attach_scope(target.pid, out)
        target.go()
        target.proc.wait(timeout=30)
        stdout, stderr = scope.communicate(timeout=60)
        assert scope.returncode == 0 and "stopped by target exited" in stdout, stderr
        assert json.loads((out / "session.json").read_text())["stop_reason"] == "target exited"
        assert top_counts(out, "*/waiting.py")["phase"] == 321
    finally:
        target.close()


def test_a_target_that_is_gone_before_scope_attaches(tmp_path):
    """The other side of the race, on purpose: exited and reaped (no process), or
    exited and not reaped (a zombie): one line each, and no recording folder."""
    proc = subprocess.Popen([PYTHON, "-c", "pass"])
    proc.wait()
    out = tmp_path / "gone"
    assert "no process" in one_line(run_scope("attach", str(proc.pid), "-o", str(out), "--duration", "1"))
    parent = subprocess.Popen([PYTHON, "-c", "import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\n"
                               "os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)\n"
                               "print(pid, flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        zombie = int(parent.stdout.readline())      # exited (waited for without reaping)
        assert "zombie" in one_line(run_scope("attach", str(zombie), "-o", str(out), "--duration", "1"))
        assert not out.exists()
    finally:
        parent.kill()
        parent.wait()


def test_a_target_that_exits_while_scope_attaches(tmp_path):
    """Unheld: whichever side of the race a delay lands on, the outcome is one of
    the two above, each checked as strictly."""
    for delay in ("0.0", "0.05", "0.2"):
        proc = subprocess.Popen([PYTHON, "-c", f"import time; print('ready', flush=True); time.sleep({delay})"],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        out = tmp_path / f"rec{delay}"
        res = run_scope("attach", "--no-inject", str(proc.pid), "-o", str(out), "--duration", "5")
        proc.wait()
        if res.returncode == 0:       # attached in time: a complete recording
            assert json.loads((out / "session.json").read_text())["stop_reason"] == "target exited"
            assert run_scope("store", "verify", str(out)).returncode == 0
        else:
            line = one_line(res)
            assert any(w in line for w in ("no process", "zombie", "exited")), line


def test_fifty_children_and_two_hundred_threads_exactly(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "swarm.py"), "50", "200", "100",
                    timeout=300)
    assert res.returncode == 0, res.stderr
    calls = query_json(out, "--sql", "select pid, count(*) n from calls c where exists (select 1 from code k "
                       "where k.pid = c.pid and k.code_id = c.code_id and k.function = 'leaf') "
                       "and status = 'complete' group by pid")
    per_pid = sorted(r["n"] for r in calls)
    assert len(per_pid) == 51 and per_pid[:50] == [100] * 50 and per_pid[50] == 200 * 100
    meta = json.loads((out / "session.json").read_text())
    assert sum(meta["drops"].values()) == 0 and meta["processes"] == 51
    # threads starting while capture is on are not another profiler (a race, fixed in the shim)
    assert "refused" not in [t["state"] for t in meta["shim"]["tracing"]]
    threads = query_json(out, "--sql", "select count(distinct tid) n from calls")[0]["n"]
    assert threads >= 200 + 50 + 1


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)]).returncode:
        pytest.fail("could not mount a tmpfs (the fault suite needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def test_a_full_disk_is_one_clear_error_and_what_was_written_stays_readable(tiny_disk):
    out = tiny_disk / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "swarm.py"), "0", "40", "20000",
                    timeout=300)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("scope: error:")]
    assert len(errors) == 1 and "No space left" in errors[0] and "not written" in errors[0], res.stderr
    meta = json.loads((out / "session.json").read_text())
    lost = meta["drops"].get("not_written_events", 0) + meta["drops"].get("not_written_calls", 0)
    assert lost > 0           # counted, not silently gone
    catalog = json.loads((out / "catalog.json").read_text())
    # events on disk: stored as such, and those the calls rows stand for (store/derive.py)
    kept = sum(e["rows"] for e in catalog["events"]) + sum(e["events"] for e in catalog["calls"])
    assert kept + meta["drops"].get("not_written_events", 0) == sum(meta["counts"]["events"].values())
    kept_calls = sum(e["rows"] for e in catalog["calls"])
    assert kept_calls + meta["drops"].get("not_written_calls", 0) == sum(meta["counts"]["calls"].values())
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]      # nothing partial visible
    ver = run_scope("store", "verify", str(out))
    assert ver.returncode == 0 and "damaged" not in ver.stdout and "intact" in ver.stdout, (ver.stdout, ver.stderr)


def test_two_sessions_on_one_target(tmp_path):
    """A second scope on a target already recorded: both record the same phase
    exactly (each has links of its own), and the first is unharmed."""
    target = Handshake(tmp_path, "waiting.py", "2345")
    try:
        first = attach_scope(target.pid, tmp_path / "a")
        second = attach_scope(target.pid, tmp_path / "b")
        target.go()
        target.wait_done()
        for scope in (first, second):
            scope.send_signal(signal.SIGINT)
            _, stderr = scope.communicate(timeout=60)
            assert scope.returncode == 0, stderr
        for rec in ("a", "b"):
            assert top_counts(tmp_path / rec, "*/waiting.py")["phase"] == 2345, rec
        assert target.proc.poll() is None
    finally:
        target.close()


def test_a_target_of_another_user_and_in_another_pid_namespace(tmp_path):
    for name, prefix in (("nobody", ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")),
                         ("pidns", ("unshare", "--pid", "--fork", "--mount-proc"))):
        shared = Path(tempfile.mkdtemp(prefix="scope-fault-"))       # the fifos, open to nobody
        shared.chmod(0o755)
        target = Handshake(shared, "waiting.py", "1234", prefix=prefix)
        try:
            out = tmp_path / name
            scope = attach_scope(target.pid, out)
            target.go()
            target.wait_done()
            scope.send_signal(signal.SIGINT)
            _, stderr = scope.communicate(timeout=60)
            assert scope.returncode == 0, stderr
            assert top_counts(out, "*/waiting.py")["phase"] == 1234, name
            assert os.stat(out).st_mode & 0o777 == 0o700
        finally:
            target.close()
            shutil.rmtree(shared)
        # nothing left running (killing `unshare --fork` alone would leave its child)
        wait_until(lambda: not os.path.exists(f"/proc/{target.pid}"), f"the {name} target is gone", 10)


def test_names_and_payloads_at_their_limits(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "oddnames.py"))
    assert res.returncode == 0, res.stderr
    top = {r["function"]: r["calls"] for r in query_json(out, "--top")}     # exec'd code: file <string>
    assert top["función_ñandú"] == 3
    long_names = [name for name in top if name.startswith("fxxx")]
    assert len(long_names) == 1 and top[long_names[0]] == 3 and len(long_names[0]) < 5000   # cut, kept apart
    code = query_json(out, "--sql", "select function, truncated from code where function like 'fxxx%'")
    assert code and all(r["truncated"] for r in code)
    events = {r["kind"]: r for r in query_json(out, "--kind", "state", "--kind", "mark")}
    assert "\\\\xff\\\\xfe" in events["state"]["payload"] or "\\xff\\xfe" in events["state"]["payload"]
    from scope import kinds
    assert events["mark"]["flags"] & kinds.F_TRUNCATED and len(events["mark"]["payload"]) <= 16384


def test_code_from_a_file_whose_path_is_not_utf8(tmp_path):
    """Python decodes such a path with surrogates, which UTF-8 cannot hold. The shim
    sends it with backslash escapes and counts it; the program is unharmed.
    (CPython 3.11's own function__return marker is not: it leaves the encoding
    error set, and the program fails with SystemError. README: the deny list.)"""
    odd = os.path.join(os.fsencode(tmp_path), b"d\xff\xfe")
    os.mkdir(odd)
    with open(os.path.join(odd, b"weird.py"), "wb") as fh:
        fh.write(b"def g(i):\n    return i\n")
    script = tmp_path / "main.py"
    script.write_text(f"import os, sys\nsys.path.insert(0, os.fsdecode({odd!r}))\nimport weird\n"
                      "for i in range(100):\n    weird.g(i)\nprint('ok')\n")
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(script))
    assert res.returncode == 0 and res.stdout.startswith("ok\n"), res.stderr
    top = query_json(out, "--top", "--function", "g")
    assert [(r["calls"], r["file"]) for r in top] == [(100, f"{tmp_path}/d\\udcff\\udcfe/weird.py")]
    meta = json.loads((out / "session.json").read_text())
    assert meta["shim"]["errors"]["name"] >= 1 and "failure(s) swallowed" in res.stdout


def test_the_target_killed_and_the_collector_terminated(tmp_path):
    import signal
    target = subprocess.Popen([PYTHON, str(TARGETS / "looping.py"), "30"], stdout=subprocess.PIPE, text=True)
    assert target.stdout.readline().strip() == "ready"
    scope = subprocess.Popen(scope_cmd("attach", "--no-inject", str(target.pid), "-o", str(tmp_path / "killed")),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_line(scope.stderr, "recording pid")
    wait_until(lambda: live_top(tmp_path / "killed", "--live").get("work", 0) >= 3, "work() recorded")
    target.kill()                                   # SIGKILL: no chance to say goodbye
    target.wait()
    stdout, stderr = scope.communicate(timeout=60)
    assert scope.returncode == 0, stderr
    assert "stopped by target exited" in stdout
    meta = json.loads((tmp_path / "killed" / "session.json").read_text())
    assert meta["stop_reason"] == "target exited" and top_counts(tmp_path / "killed", "*/looping.py")["work"] >= 3
    target = subprocess.Popen([PYTHON, str(TARGETS / "looping.py"), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline().strip() == "ready"
        scope = subprocess.Popen(scope_cmd("attach", "--no-inject", str(target.pid), "-o", str(tmp_path / "termed")),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_line(scope.stderr, "recording pid")
        wait_until(lambda: live_top(tmp_path / "termed", "--live").get("work", 0) >= 3, "work() recorded")
        scope.send_signal(signal.SIGTERM)
        stdout, stderr = scope.communicate(timeout=60)
        assert scope.returncode == 0 and "stopped by signal" in stdout, stderr
        assert top_counts(tmp_path / "termed", "*/looping.py")["work"] >= 3
        assert target.poll() is None                # the target runs on
    finally:
        target.kill()
        target.wait()


def test_an_output_folder_that_cannot_be_written(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    assert subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)]).returncode == 0
    try:
        target = subprocess.Popen([PYTHON, str(TARGETS / "looping.py"), "10"], stdout=subprocess.PIPE, text=True)
        assert target.stdout.readline().strip() == "ready"
        res = run_scope("attach", "--no-inject", str(target.pid), "-o", str(ro / "rec"), "--duration", "1")
        assert "cannot create folder" in one_line(res) or "not writable" in res.stderr
        assert target.poll() is None
        target.kill()
        target.wait()
    finally:
        subprocess.run(["umount", "-l", str(ro)])


def _execs_calls(out):
    rows = query_json(out, "--sql", "select function, status, count(*) n from calls c join code "
                      "using (pid, code_id) where c.pid = (select min(pid) from processes) "
                      "and file like '%/execs.py' group by all")
    return {(r["function"], r["status"]): r["n"] for r in rows}


@pytest.mark.parametrize("how", ["run", "attach"])
def test_a_target_that_execs_another_program(tmp_path, how):
    """Its calls up to the exec are exact; the frames the exec wiped out end then
    (`ended`); its process row no longer claims to be Python; scope exits cleanly."""
    out = tmp_path / "rec"
    if how == "run":
        res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "execs.py"), "other")
        stdout, code = res.stdout, res.returncode
    else:
        target = start_with_shim("execs.py", "other", "wait", stdin=subprocess.PIPE)
        scope = attach_scope(target.pid, out)
        wait_tracing_on(out)
        target.stdin.write(b"go\n")
        target.stdin.flush()
        assert target.stdout.read() == b"shell-done\n"
        target.wait(timeout=30)
        stdout, _ = scope.communicate(timeout=60)
        code = scope.returncode
    assert code == 0 and "stopped by target exited" in stdout
    calls = _execs_calls(out)
    assert calls[("leaf", "complete")] == 1234
    assert calls[("before_exec", "ended")] == 1
    if how == "run":     # attached later, the module's start was not seen: it has no row
        assert calls[("<module>", "ended")] == 1
    assert f"{2 if how == 'run' else 1} ended with their process" in stdout, stdout
    # before_exec ended at the (last) exec of its process
    rows = query_json(out, "--sql", "select c.end_ns = (select max(ts) from events e where e.kind = 'exec' "
                      "and e.pid = c.pid) at_exec from calls c join code using (pid, code_id) "
                      "where function = 'before_exec'")
    assert rows == [{"at_exec": True}]
    root = min(query_json(out, "--sql", "select pid, exe, python_version from processes"), key=lambda r: r["pid"])
    assert root["exe"] == os.path.realpath("/bin/sh") and root["python_version"] == ""
    meta = json.loads((out / "session.json").read_text())
    assert sum(meta["drops"].values()) == 0


def test_a_target_that_execs_its_interpreter_again(tmp_path):
    """Both programs recorded exactly, each with code ids of its own: the second
    program's shim numbers its code objects afresh, and scope moves them apart."""
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "execs.py"), "self")
    assert res.returncode == 0 and res.stdout.startswith("again-done\n"), res.stderr
    assert _execs_calls(out) == {("leaf", "complete"): 1234 + 4321, ("before_exec", "ended"): 1,
                                 ("<module>", "ended"): 1, ("<module>", "complete"): 1}
    # one name per (pid, code id): no id of the first program names a function of the second
    dupes = query_json(out, "--sql", "select pid, code_id, count(*) n from code group by all having n > 1")
    assert dupes == []
    modules = query_json(out, "--sql", "select code_id, status from calls c join code using (pid, code_id) "
                         "where function = '<module>' and file like '%/execs.py' order by start_ns")
    assert [m["status"] for m in modules] == ["ended", "complete"]
    assert modules[0]["code_id"] != modules[1]["code_id"]
    meta = json.loads((out / "session.json").read_text())
    assert sum(meta["drops"].values()) == 0


def test_a_process_past_its_sixteenth_program(tmp_path):
    """Each program of a process gets an id space of its own, 16 of them (then
    the app-event names' begin): 18 programs in one process — the first 16
    recorded exactly, the calls and names of the last two counted as dropped
    (reexec_calls, reexec_names), never mixed up with another's."""
    from scope.collector.images import MAX_IMAGES
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "execs.py"), "chain", "17")
    assert res.returncode == 0 and res.stdout.startswith("chain-done\n"), res.stderr
    leafs = query_json(out, "--sql", "select c.status, count(*) n from calls c join code k using (pid, code_id) "
                       "where k.function = 'leaf' group by all")
    assert leafs == [{"status": "complete", "n": 100 * MAX_IMAGES}]
    drops = json.loads((out / "session.json").read_text())["drops"]
    assert drops["reexec_calls"] >= 2 * 2 * 100 and drops["reexec_names"] > 0, drops
    assert query_json(out, "--sql", "select pid, code_id, count(*) n from code group by all having n > 1") == []


def test_a_real_recording_belongs_to_the_sudo_user_and_no_one_else(tmp_path):
    """Through sudo: every folder 0700 and every file 0600, owned by SUDO_UID:SUDO_GID,
    compacted cold files included."""
    out = tmp_path / "rec"
    env = dict(os.environ, SUDO_UID="12345", SUDO_GID="23456")
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "known_calls.py"), env=env)
    assert res.returncode == 3, res.stderr
    compacted = run_scope("store", "compact", str(out), env=env)
    assert compacted.returncode == 0, compacted.stderr
    paths = [out, *out.rglob("*")]
    assert any("cold" in p.parts for p in paths) and len(paths) > 8
    for p in paths:
        st = p.lstat()
        assert (st.st_uid, st.st_gid) == (12345, 23456), p
        assert st.st_mode & 0o777 == (0o700 if p.is_dir() else 0o600), (p, oct(st.st_mode))


def test_the_live_socket_belongs_to_the_sudo_user(tmp_path):
    import signal
    target = subprocess.Popen([PYTHON, str(TARGETS / "looping.py"), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline().strip() == "ready"
        out = tmp_path / "rec"
        env = dict(os.environ, SUDO_UID="12345", SUDO_GID="23456")
        scope = subprocess.Popen(scope_cmd("attach", "--no-inject", str(target.pid), "-o", str(out)), env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_line(scope.stderr, "recording pid")
        sock = (out / "live.sock").lstat()
        assert (sock.st_uid, sock.st_gid, sock.st_mode & 0o777) == (12345, 23456, 0o600)
        scope.send_signal(signal.SIGINT)          # the moment "recording pid" is printed
        stdout, stderr = scope.communicate(timeout=60)
        assert scope.returncode == 0 and not (out / "live.sock").exists(), stderr
        assert "stopped by signal" in stdout
        assert json.loads((out / "session.json").read_text())["stop_reason"] == "signal"
        ver = run_scope("store", "verify", str(out))
        assert ver.returncode == 0 and "finished" in ver.stdout, ver.stdout
    finally:
        target.kill()
        target.wait()


def test_a_target_that_execs_its_interpreter_again_without_the_shim(tmp_path):
    """The interpreter's own markers: returns only (3.11), names interned by
    address in the eBPF program, which the second program may reuse: each
    function still has one name, and every return of both programs is there."""
    out = tmp_path / "rec"
    res = run_scope("run", "--no-shim", "-o", str(out), "--", PYTHON, str(TARGETS / "execs.py"), "self")
    assert res.returncode == 0 and res.stdout.startswith("again-done\n"), res.stderr
    calls = _execs_calls(out)
    assert calls[("leaf", "start_unseen")] == 1234 + 4321
    assert query_json(out, "--sql", "select pid, code_id, count(*) n from code group by all having n > 1") == []
