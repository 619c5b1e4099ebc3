"""Targets in containers: their root filesystem mounted only in their own mount
namespace, their own PID namespace (tests/container/container.py), Debian
unstable's python3.15 inside (its USDT markers; it cannot run on the host).

scope reaches the target's own binaries (not the host's files of the same
name), records exact counts, shows thread ids as the host's and keeps the
target's own, leaves nothing in the container, and changes none of its output.

3.15's entry marker also fires when a generator function's frame merely
creates its generator (RETURN_GENERATOR), with no return marker after it;
scope ends that call at _Py_MakeCoro (test_generators_through_the_markers_of_3_15).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.container.container import BOOKWORM, IMAGE, Container

from .conftest import (
    TARGETS,
    live_top,
    query_json,
    run_scope,
    scope_cmd,
    top_counts,
    wait_capturing,
    wait_for_line,
    wait_until,
)

WORKLOAD = "contained.py"


def fib_calls(n: int) -> int:
    return 1 if n < 2 else 1 + fib_calls(n - 1) + fib_calls(n - 2)


FIB_MAIN = sum(fib_calls(i) for i in range(12))     # work()
FIB_THREAD = sum(fib_calls(i) for i in range(10))   # in_thread()


IMAGES = {"/usr/bin/python3.11": BOOKWORM, "/usr/bin/python3.14": IMAGE, "/usr/bin/python3.15": IMAGE}


def image_of(python: str):
    image = IMAGES[python]
    if not image.exists():
        pytest.skip(f"{image} is missing (./setup.sh builds it: tests/container/build.sh)")
    return image


@pytest.fixture
def image():
    return image_of("/usr/bin/python3.15")


def start(tmp_path, python: str, name: str = "c", hidden: tuple[str, ...] = ()) -> tuple[Container, subprocess.Popen, int]:
    box = Container(tmp_path / name, [python, f"/targets/{WORKLOAD}"], binds={"/targets": str(TARGETS)},
                    image=image_of(python), hidden=hidden)
    proc = box.start(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    return box, proc, box.pid()


def finish(proc: subprocess.Popen, before_end=lambda: None) -> tuple[str, list[int]]:
    """Let the workload run to its end; what it printed after "ready", and its
    threads' ids as it sees them (main, second)."""
    proc.stdin.write("go\n")
    proc.stdin.flush()
    lines = [proc.stdout.readline() for _ in range(3)]
    assert lines[-1] == "done\n", lines
    ids = proc.stderr.readline().split()
    assert ids[0] == "ids", ids
    before_end()
    proc.stdin.write("end\n")
    proc.stdin.close()
    lines.append(proc.stdout.read())
    assert proc.wait(30) == 0
    return "".join(lines), [int(i) for i in ids[1:]]


def untraced(tmp_path, python: str) -> tuple[str, list[str]]:
    """The workload run without scope: what it prints, what it writes to its root."""
    box, proc, _ = start(tmp_path, python, "plain")
    try:
        return finish(proc)[0], box.written()
    finally:
        box.stop()


def record(tmp_path, box, proc, pid, *options: str, env=None) -> tuple[tuple[str, list[int]], object]:
    """Attach to the contained workload, let it run to its end; what it printed."""
    out = tmp_path / "rec"
    scope = subprocess.Popen(scope_cmd("attach", str(pid), "-o", str(out), *options), stderr=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        wait_for_line(scope.stderr, "scope: recording pid")
        if "--inject" in options:
            wait_capturing(out)          # the shim loaded (while idle() ran) and capture is on
        # its threads still live when the collector first sees them (it asks their
        # own ids then): every fib() call seen live
        printed = finish(proc, lambda: wait_until(
            lambda: live_top(out, "--live").get("fib") == FIB_MAIN + FIB_THREAD, "every fib() call seen live"))
        scope.send_signal(signal.SIGINT)
        _, err = scope.communicate(timeout=60)
    finally:
        if scope.poll() is None:
            scope.kill()
    assert scope.returncode == 0 and "Traceback" not in err, err
    return printed, out


def check_recording(out, pid: int, ids: list[int]) -> None:
    """Exact counts of the workload, no broken call, both ids of process and threads."""
    counts = top_counts(out, f"*/{WORKLOAD}")
    assert counts["fib"] == FIB_MAIN + FIB_THREAD
    assert counts["work"] == 1 and counts["in_thread"] == 1
    calls = query_json(out, "--sql", "select status, count(*) n from calls group by status")
    assert {r["status"]: r["n"] for r in calls}.get("broken", 0) == 0
    meta = json.loads((out / "session.json").read_text())
    assert meta["target"]["pid"] == pid and meta["target"]["nspid"] == [pid, 1]
    assert meta["target"]["own_mounts"] is True
    main_tid, thread_tid = ids
    assert main_tid == 1
    threads = query_json(out, "--sql", "select tid, ns_tid from threads where ns_tid is not null")
    own = {r["ns_tid"]: r["tid"] for r in threads}
    assert own[1] == pid and own[thread_tid] not in (thread_tid, pid)
    # every call of the workload on the host's thread ids (the shim's ring says the target's own)
    tids = query_json(out, "--sql", "select k.function, list(distinct c.tid) tids from calls c join code k "
                      "on k.pid = c.pid and k.code_id = c.code_id where k.function in ('work', 'in_thread') "
                      "group by k.function")
    assert {r["function"]: r["tids"] for r in tids} == {"work": [pid], "in_thread": [own[thread_tid]]}


@pytest.mark.parametrize("python", ["/usr/bin/python3.11", "/usr/bin/python3.15"])
def test_attach_to_a_container_records_exactly_and_leaves_nothing(tmp_path, python):
    """Through the interpreter's own call markers (3.11: returns, its entries fire
    only under a profile function; 3.15: entries and returns)."""
    plain, written_plain = untraced(tmp_path, python)
    box, proc, pid = start(tmp_path, python)
    try:
        doctor = run_scope("doctor", "--pid", str(pid))
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "container       pid 1 in its own PID namespace" in doctor.stdout
        assert f"its files are reached through /proc/{pid}/root" in doctor.stdout
        assert "python:function__entry" in doctor.stdout        # its own binary's markers
        sites = {"/usr/bin/python3.11": "8 USDT marker sites",
                 "/usr/bin/python3.15": "12 USDT marker sites and 1 function probe"}[python]
        assert f"{python}: {sites} (reached through its mapping)" in doctor.stdout
        made = "use  uprobe:_Py_MakeCoro" if python.endswith("3.15") else "uprobe:_Py_MakeCoro"
        assert (made in doctor.stdout) == python.endswith("3.15")   # 3.11 has no such function
        assert "--inject` loads it: built here with the container's Python headers" in doctor.stdout
        (printed, ids), out = record(tmp_path, box, proc, pid, "--no-inject")
    finally:
        box.stop()
    assert printed == plain                          # its output is unchanged, byte for byte
    check_recording(out, pid, ids)
    assert box.written() == written_plain            # nothing of scope's in the container
    # first lines and qualified names from the program's source, read inside the
    # container (3.11's markers report no entries, 3.15's entry only the line)
    first = query_json(out, "--sql", "select first_line, qualname from code where function = 'fib'")
    source = (TARGETS / WORKLOAD).read_text().splitlines()
    assert [(r["first_line"], r["qualname"]) for r in first] == [(source.index("def fib(n):") + 1, "fib")]


@pytest.mark.parametrize("python", ["/usr/bin/python3.11", "/usr/bin/python3.14", "/usr/bin/python3.15"])
def test_inject_into_a_container_records_complete_calls(tmp_path, python):
    """3.11: through gdb (it finds the target's symbols in its mount namespace);
    3.14+: through remote debugging, requested by scope itself."""
    plain, written_plain = untraced(tmp_path, python)
    box, proc, pid = start(tmp_path, python)
    try:
        (printed, ids), out = record(tmp_path, box, proc, pid, "--inject")
    finally:
        box.stop()
    assert printed == plain
    check_recording(out, pid, ids)
    # through the shim: complete calls with their durations, every one
    fibs = query_json(out, "--sql", "select count(*) n, min(end_ns - start_ns) shortest from calls c join code k "
                      "on k.pid = c.pid and k.code_id = c.code_id where k.function = 'fib' and c.status = 'complete'")
    assert fibs[0]["n"] == FIB_MAIN + FIB_THREAD and fibs[0]["shortest"] > 0
    meta = json.loads((out / "session.json").read_text())
    assert any(t["state"] == "on" for t in meta["shim"]["tracing"])
    # the shim and its script were scope's files in the container's /tmp: gone after detach
    assert [p for p in box.written() if "scope" in p] == []
    assert set(box.written()) - set(written_plain) <= {"tmp"}     # /tmp itself, touched


def test_files_scope_cannot_reach_get_the_precise_error(tmp_path):
    """Without CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE, /proc/PID/map_files is
    closed to scope, and a container's binaries have no name that reaches them
    from the host: the error says so (never "no USDT markers"). The same
    target, with them: fine."""
    box, _, pid = start(tmp_path, "/usr/bin/python3.15")
    try:
        caps = "-sys_admin,-checkpoint_restore"
        res = subprocess.run(["setpriv", "--bounding-set", caps, "--inh-caps", caps,
                              *scope_cmd("doctor", "--pid", str(pid))], capture_output=True, text=True)
        assert res.returncode == 1 and "Traceback" not in res.stderr
        assert res.stderr.startswith(f"scope: error: cannot see the target's files from here: process {pid} "
                                     "maps "), res.stderr
        assert "CAP_SYS_ADMIN" in res.stderr and "USDT" not in res.stderr
        assert run_scope("doctor", "--pid", str(pid)).returncode == 0
    finally:
        box.stop()


def test_inject_into_a_container_without_headers_fetches_debians(tmp_path):
    """Debian's python3.11 in an image without python3.11-dev: the headers of that
    very version come from Debian's archive, verified (probes/debheaders.py);
    fresh caches, so they are fetched and the shim compiled in this test."""
    python = "/usr/bin/python3.11"
    hidden = ("/usr/include/python3.11", "/usr/include/x86_64-linux-gnu/python3.11")
    box, proc, pid = start(tmp_path, python, hidden=hidden)
    env = dict(os.environ, SCOPE_HEADERS_CACHE=str(tmp_path / "headers"), SCOPE_SHIM_CACHE=str(tmp_path / "shim"))
    try:
        inside = f"/proc/{pid}/root/usr"       # the container's own view
        assert os.path.exists(f"{inside}/bin/python3.11") and not os.path.exists(f"{inside}/include/python3.11")
        (_, ids), out = record(tmp_path, box, proc, pid, "--inject", env=env)
    finally:
        box.stop()
    check_recording(out, pid, ids)
    fetched = list((tmp_path / "headers").glob("libpython3.11-dev_*_amd64/usr/include/python3.11/Python.h"))
    assert len(fetched) == 1
    assert list((tmp_path / "shim").glob("3.11-headers-*/scope_shim/_shim.cpython-311-x86_64-linux-gnu.so"))
    assert [p for p in box.written() if "scope" in p] == []


@pytest.fixture
def sid_root(tmp_path, image):
    """The sid root mounted here (host's mount namespace, as `chroot DIR` needs):
    the image read-only under an overlay whose upper layer shows what was written."""
    lower, upper, work, root = (tmp_path / n for n in ("lower", "upper", "work", "root"))
    for d in (lower, upper, work, root):
        d.mkdir()
    subprocess.run(["mount", "-o", "loop,ro", str(image), str(lower)], check=True)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={upper},workdir={work}", str(root)], check=True)
    try:
        yield root, upper
    finally:
        subprocess.run(["umount", "-l", str(root)])
        subprocess.run(["umount", "-l", str(lower)])


RUN_APP = """\
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def main():
    print("fib", [fib(i) for i in range(12)])


main()
"""


@pytest.mark.parametrize("python", ["/usr/bin/python3.14", "/usr/bin/python3.15"])
def test_run_an_interpreter_of_another_root(tmp_path, sid_root, python):
    """`scope run -- chroot DIR python3.X app.py`: the interpreter found inside DIR,
    the shim built with DIR's headers and preloaded from DIR's /tmp, removed after."""
    root, upper = sid_root
    (root / "tmp" / "app.py").write_text(RUN_APP)
    plain = subprocess.run(["chroot", str(root), python, "/tmp/app.py"], capture_output=True, text=True)
    written = sorted(str(p.relative_to(upper)) for p in upper.rglob("*"))
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", "chroot", str(root), python, "/tmp/app.py")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    # the program's output byte for byte, then scope's summary
    assert res.stdout.startswith(plain.stdout) and res.stdout[len(plain.stdout):].startswith("recorded pid")
    counts = top_counts(out, "/tmp/app.py")
    assert counts == {"<module>": 1, "main": 1, "fib": FIB_MAIN}
    complete = query_json(out, "--sql", "select count(*) n from calls c join code k on k.pid = c.pid and "
                          "k.code_id = c.code_id where k.function = 'fib' and c.status = 'complete' "
                          "and c.end_ns > c.start_ns")
    assert complete[0]["n"] == FIB_MAIN                 # through the shim: every call with its duration
    assert sorted(str(p.relative_to(upper)) for p in upper.rglob("*")) == written    # nothing of scope's left


def test_generators_through_the_markers_of_3_15(tmp_path, sid_root):
    """Without the shim, 3.15's own markers: a generator function's frame that only
    creates its generator reports an entry and no return; scope ends that call
    where the generator is made (_Py_MakeCoro), so nothing stays open or breaks
    and a call made between creation and first resume is its caller's, not the
    generator's. A call ended by an exception has a return marker too (status
    complete: the markers cannot tell it from a return). Ground truth:
    tests/targets/generators.py."""
    root, _ = sid_root
    (root / "tmp" / "generators.py").write_text((TARGETS / "generators.py").read_text())
    out = tmp_path / "rec"
    res = run_scope("run", "--no-shim", "-o", str(out), "--", "chroot", str(root), "/usr/bin/python3.15",
                    "/tmp/generators.py")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert res.stdout.startswith("[45, 45, 45, 45, 45] [6, 6, 6, 6, 6, 6, 6] 30 [1, 1, 1]\n")
    rows = query_json(out, "--sql", "select k.function, c.status, count(*) n, list(distinct pk.function) parents "
                      "from calls c join code k on k.pid = c.pid and k.code_id = c.code_id "
                      "left join calls p on p.call_id = c.parent_id "
                      "left join code pk on pk.pid = p.pid and pk.code_id = p.code_id "
                      "where k.file = '/tmp/generators.py' group by all")
    got = {r["function"]: (r["status"], r["n"], sorted(r["parents"])) for r in rows}
    # numbers(): 12 creations (5 in late, 7 in eager), then 5 x 11 + 7 x 5 runs from a resume to a yield or the end
    assert got["numbers"] == ("complete", 12 + 5 * 11 + 7 * 5, ["eager", "late"])
    assert got["other"] == ("complete", 5, ["late"])              # the generator was not running
    assert got["coro"] == ("complete", 3 + 3, ["run_coro"])       # a coroutine is created the same way
    assert got["boom"] == ("complete", 30, ["catcher"])           # ended by an exception
    assert got["late"] == ("complete", 5, ["main"]) and got["eager"] == ("complete", 7, ["main"])
    statuses = query_json(out, "--sql", "select status, count(*) n from calls group by status")
    assert {r["status"]: r["n"] for r in statuses}.get("broken", 0) == 0
    created = query_json(out, "--sql", "select count(*) n from events e join code k on k.pid = e.pid and "
                         f"k.code_id = e.code_id where e.flags = {0x400} and k.file = '/tmp/generators.py'")
    assert created[0]["n"] == 12 + 3
    # first lines from the source (read inside the root after the program ended), as
    # co_firstlineno: a module's is 1 (its entry says line 0)
    lines = query_json(out, "--sql", "select function, first_line from code where file = '/tmp/generators.py'")
    first = {r["function"]: r["first_line"] for r in lines}
    assert first["numbers"] == 8 and first["other"] == 13 and first["<module>"] == 1


def test_same_named_functions_apart_through_the_markers_of_3_15(tmp_path, sid_root):
    """3.15's entry and return markers, like 3.11's return marker, name a
    function by file and bare name: scope tells same-named ones apart by the
    definition (in the file's source, read inside the target's root) whose body
    holds each record's line — the entry's and its return's, so each call is
    whole. Ground truth: tests/targets/same_names.py (test_names.py)."""
    from .test_names import expected, top_by_identity
    root, _ = sid_root
    (root / "tmp" / "same_names.py").write_text((TARGETS / "same_names.py").read_text())
    out = tmp_path / "rec"
    res = run_scope("run", "--no-shim", "-o", str(out), "--", "chroot", str(root), "/usr/bin/python3.15",
                    "/tmp/same_names.py")
    assert res.returncode == 0, res.stderr
    assert top_by_identity(out, "/tmp/same_names.py") == expected()
    statuses = query_json(out, "--sql", "select c.status, count(*) n from calls c join code k on "
                          "k.pid = c.pid and k.code_id = c.code_id where k.file = '/tmp/same_names.py' group by all")
    assert {r["status"]: r["n"] for r in statuses} == {"complete": sum(expected().values())}


@pytest.mark.parametrize("python,launcher,options", [
    ("/usr/bin/python3.14", ["unshare", "--mount", "--pid", "--fork", "--root", "{root}"], []),
    ("/usr/bin/python3.15", ["unshare", "-mpf", "chroot", "{root}"], ["--no-shim"]),
])
def test_run_a_container_it_starts(tmp_path, sid_root, python, launcher, options):
    """`scope run -- unshare --mount --pid --fork --root DIR python3.X app.py`: the
    interpreter found inside DIR, the program followed into the child unshare
    forks (pid 1 of a new PID namespace, in a mount namespace of its own) —
    through the shim (3.14), or 3.15's own markers."""
    root, upper = sid_root
    (root / "tmp" / "app.py").write_text(RUN_APP)
    cmd = [w.format(root=root) for w in launcher] + [python, "/tmp/app.py"]
    plain = subprocess.run(cmd, capture_output=True, text=True, check=True)
    written = sorted(str(p.relative_to(upper)) for p in upper.rglob("*"))
    out = tmp_path / "rec"
    res = run_scope("run", *options, "-o", str(out), "--", *cmd)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert res.stdout.startswith(plain.stdout) and res.stdout[len(plain.stdout):].startswith("recorded pid")
    assert top_counts(out, "/tmp/app.py") == {"<module>": 1, "main": 1, "fib": FIB_MAIN}
    complete = query_json(out, "--sql", "select count(*) n from calls c join code k on k.pid = c.pid and "
                          "k.code_id = c.code_id where k.function = 'fib' and c.status = 'complete' "
                          "and c.end_ns > c.start_ns")
    assert complete[0]["n"] == FIB_MAIN                  # every call with its duration
    # the interpreter is the launcher's child, pid 1 of its own namespace; its calls carry the host's ids
    procs = query_json(out, "--sql", "select p.pid, p.ppid, t.ns_tid from processes p join threads t "
                       "on t.pid = p.pid and t.tid = p.pid order by p.pid")
    launched, python_proc = procs[0], procs[-1]
    assert python_proc["ppid"] == launched["pid"] and python_proc["ns_tid"] == 1
    pids = query_json(out, "--sql", "select distinct c.pid from calls c join code k on k.pid = c.pid and "
                      "k.code_id = c.code_id where k.file = '/tmp/app.py'")
    assert [r["pid"] for r in pids] == [python_proc["pid"]]
    assert sorted(str(p.relative_to(upper)) for p in upper.rglob("*")) == written    # nothing of scope's left


def test_run_refuses_a_forked_program_it_would_not_follow(tmp_path):
    res = run_scope("run", "--no-follow", "-o", str(tmp_path / "rec"), "--", "unshare", "-mpf", "python3", "-c", "1")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr == ("scope: error: unshare --fork runs the program as its child, which --no-follow "
                          "leaves out; drop --no-follow\n")


def test_an_id_learnt_while_held_outlives_the_process():
    """The mechanism, deterministically: a thread's own id read while it lives
    (ThreadTracker.learn, as at a followed child's fork) is its row's when its
    events are read after it is gone."""
    import numpy as np

    from scope.collector.threads import ThreadTracker
    from scope.probes.layout import record_dtype
    outer = subprocess.Popen(["unshare", "--pid", "--fork", "sleep", "30"])
    try:
        wait_until(lambda: subprocess.run(["pgrep", "-P", str(outer.pid)], capture_output=True,
                                          check=False).stdout.strip(), "unshare's child")
        child = int(subprocess.run(["pgrep", "-P", str(outer.pid)], capture_output=True, text=True,
                                   check=True).stdout)
        tracker = ThreadTracker()
        tracker.learn(child, child)
        os.kill(child, signal.SIGKILL)         # pid 1 of its namespace: unshare reaps it
        outer.wait(timeout=30)
    finally:
        outer.kill()
        outer.wait()
    wait_until(lambda: not os.path.exists(f"/proc/{child}"), "the child gone")
    ev = np.zeros(1, record_dtype("scope_event"))
    ev["pid"], ev["tid"], ev["ts"], ev["kind"] = child, child, 1, 2
    tracker.feed(ev)
    assert tracker.table().to_pylist()[0]["ns_tid"] == 1
    late = ThreadTracker()                        # the control: read only when its events come
    late.feed(ev)
    assert late.table().to_pylist()[0]["ns_tid"] is None


def test_a_short_lived_contained_program_keeps_its_own_id(tmp_path, sid_root):
    """A program that ends at once, in a PID namespace scope's launcher made: its
    own pid (1) is read while its fork holds it, not when its first events are
    read (by then it may be gone)."""
    root, _ = sid_root
    out = tmp_path / "rec"
    for i in range(3):
        rec = out.with_name(f"rec{i}")
        res = run_scope("run", "--no-shim", "-o", str(rec), "--", "unshare", "-mpf", "chroot", str(root),
                        "/usr/bin/python3.15", "-c", "pass")
        assert res.returncode == 0, res.stderr
        rows = query_json(rec, "--sql", "select p.pid, t.ns_tid from processes p join threads t on t.pid = p.pid "
                          "and t.tid = p.pid where p.ppid is not null")
        assert [r["ns_tid"] for r in rows] == [1], rows
