"""gdb never runs as root for a target whose host uid is not 0 (issue 30, review W5).

An attacker (uid 65534) runs python3.11 in a user and mount namespace of its
own (`unshare -Urm`): scope sees a container, and gdb (`--inject` on 3.11-3.13)
parses the ELF and DWARF of files the attacker controls. gdb runs as the
attacker's host uid with no capability, reading the target's files through
/proc/PID/root; it calls functions by the addresses scope read from the mapped
files (the same ones gdb's own lookup gives), and the injected shim records.
Control: a target of the host's root in a mount namespace of its own still
gets root gdb (it enters that namespace), and the same call with the old
choice (root) against the attacker's target runs gdb as root.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import psutil
import pytest

from scope.probes.inject import CALLED, _run_gdb, called_functions, gdb_user
from scope.probes.target import inspect_process

from .conftest import PYTHON, readable, run_scope, top_counts

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
APP = """\
import time


def gdb_trust_tick(i):
    return i * 2


print("ready", flush=True)
while True:
    for i in range(200):
        gdb_trust_tick(i)
    time.sleep(0.01)
"""


def _start(prefix: list[str], tmp_path: Path) -> subprocess.Popen:
    script = tmp_path / "trust_gdb_app.py"
    script.write_text(APP)
    target = subprocess.Popen([*prefix, "unshare", "-Urm" if prefix else "-m", PYTHON, str(readable(script))],
                              stdout=subprocess.PIPE, text=True)
    assert target.stdout.readline() == "ready\n"
    assert psutil.Process(target.pid).exe() == os.path.realpath(PYTHON)     # unshare execs: the pid is python's
    assert os.readlink(f"/proc/{target.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    return target


@pytest.fixture
def contained(tmp_path):
    """The attacker's target: python3.11 as uid 65534 in its own user+mount namespace."""
    target = _start(AS_NOBODY, tmp_path)
    try:
        assert os.readlink(f"/proc/{target.pid}/ns/user") != os.readlink("/proc/self/ns/user")
        yield target
    finally:
        target.kill()
        target.wait()


@pytest.fixture
def cache():
    """A fresh shim cache any target can read (the shim is built for this target)."""
    folder = Path(tempfile.mkdtemp(prefix="scope-trust-gdb-cache-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def _tracers(pid: int, seen: list, stop: threading.Event) -> None:
    """Record (uid line, CapEff line) of each process tracing ``pid`` (gdb, while attached)."""
    while not stop.is_set():
        try:
            with open(f"/proc/{pid}/status") as fh:
                tracer = next(int(line.split()[1]) for line in fh if line.startswith("TracerPid:"))
            if tracer:
                with open(f"/proc/{tracer}/status") as fh:
                    lines = {line.split(":")[0]: line.split()[1:] for line in fh if ":" in line}
                seen.append((tracer, lines["Uid"], lines["CapEff"][0]))
        except (OSError, StopIteration, KeyError, IndexError):
            pass
        stop.wait(0.005)


def test_gdb_runs_as_the_host_uid_of_a_target_in_its_own_namespaces(contained):
    pid = contained.pid
    target = inspect_process(pid, require_markers=False)
    assert target.own_mounts                                     # scope takes it for a container
    user = gdb_user(target)
    assert user == (NOBODY, NOBODY)
    calls = called_functions(target)
    assert sorted(calls) == sorted(CALLED)
    asked = "".join(f"print/x (long)&{name}\n" for name in CALLED)
    said = _run_gdb(pid, "shell id -u; grep CapEff /proc/self/status\ninfo sharedlibrary\n" + asked
                    + "print (int)Py_IsInitialized()\ndetach\nquit\n", 60, user)
    assert re.search(rf"^{NOBODY}\nCapEff:\s+0+$", said, re.M), said
    # its libraries found through the target's root, and the addresses scope gives
    # gdb to call are the ones gdb itself finds in the target's own files
    assert re.search(rf"^0x\S+\s+0x\S+\s+Yes.*\s/proc/{pid}/root/\S*libc\.so\.6$", said, re.M), said
    values = [int(v, 16) for v in re.findall(r"^\$\d+ = (0x[0-9a-f]+)$", said, re.M)]
    assert values == [calls[name] for name in CALLED], said
    assert re.search(r"^\$\d+ = 1$", said, re.M), said           # a call made in the target returned
    # the control: the old choice for a target in its own mount namespace (root) is root
    assert re.search(r"^0$", _run_gdb(pid, "shell id -u\ndetach\nquit\n", 60, None), re.M)


def test_inject_records_through_gdb_as_the_targets_host_uid(tmp_path, contained, cache):
    pid = contained.pid
    seen: list = []
    stop = threading.Event()
    watcher = threading.Thread(target=_tracers, args=(pid, seen, stop), daemon=True)
    watcher.start()
    try:
        out = tmp_path / "rec"
        res = run_scope("attach", str(pid), "--inject", "--duration", "2", "-o", str(out),
                        env=dict(os.environ, SCOPE_SHIM_CACHE=str(cache)), timeout=600)
    finally:
        stop.set()
        watcher.join()
    assert res.returncode == 0, res.stderr
    calls = json.loads((out / "session.json").read_text())["target"]["calls"]
    assert calls["source"] == "shim", calls
    assert top_counts(out, "*/trust_gdb_app.py").get("gdb_trust_tick", 0) > 0
    assert seen, "no gdb was seen attached to the target"
    for tracer, uids, capeff in seen:
        assert uids == [str(NOBODY)] * 4 and int(capeff, 16) == 0, (tracer, uids, capeff)


def test_a_target_of_the_hosts_root_in_its_own_mount_namespace_gets_root_gdb(tmp_path):
    """The control: host uid 0 (a container run as the host's root): gdb as root."""
    target = _start([], tmp_path)
    try:
        found = inspect_process(target.pid, require_markers=False)
        assert found.own_mounts
        assert gdb_user(found) is None
        said = _run_gdb(target.pid, "shell id -u\nprint (int)Py_IsInitialized()\ndetach\nquit\n", 60, None)
        assert re.search(r"^0\n\$1 = 1$", said, re.M), said
    finally:
        target.kill()
        target.wait()
