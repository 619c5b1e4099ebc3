"""A target that breaks its own scope ring on purpose (issue 16): the ring is
untrusted input. The shim seals it against resizing, so shrinking it fails in
the target; a ring whose head moves backwards or that publishes records no
shim writes is refused — that ring alone: its reason kept, its loss counted,
the rest of the recording (other processes included) exact, scope exiting 0."""
from __future__ import annotations

import json
import mmap
import os
import struct
import subprocess
import sys

import pytest

from scope import kinds

from .conftest import PYTHON, query_json, readable, run_scope, scope_cmd, start_with_shim


def counts(out) -> dict[tuple[str, int], int]:
    rows = query_json(out, "--sql", "select k.function, c.pid, count(*) n from calls c join code k "
                      "using (pid, code_id) where k.function in ('before', 'after') and c.status = 'complete' "
                      "group by all")
    return {(r["function"], r["pid"]): r["n"] for r in rows}


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
MEASURED = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")


def run_as_nobody(out, mode: str) -> tuple[subprocess.CompletedProcess, int]:
    """`scope run` of the hostile target as user nobody; and scope's peak
    resident memory (KiB)."""
    res = subprocess.run([sys.executable, "-c", MEASURED, *scope_cmd("run", "-o", str(out), "--", *NOBODY, PYTHON,
                                                                     str(readable("hostile_ring.py")), mode)],
                         capture_output=True, text=True, timeout=120, check=False)
    *err, peak = res.stderr.rstrip("\n").split("\n")
    return subprocess.CompletedProcess(res.args, res.returncode, res.stdout, "\n".join(err)), int(peak)


def attach_as_nobody(out, mode: str) -> subprocess.CompletedProcess:
    """The hostile target started first, as nobody, with the shim preloaded;
    `scope attach` on it; the target attacks once its ring exists. Its output,
    then scope's."""
    target = start_with_shim("hostile_ring.py", mode, "attached", user=65534, group=65534, extra_groups=[])
    try:
        scope = subprocess.Popen(scope_cmd("attach", str(target.pid), "-o", str(out), "--no-inject"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        summary, err = scope.communicate(timeout=120)
        printed = target.stdout.read().decode()
        target.wait(timeout=30)
    finally:
        if target.poll() is None:
            target.kill()
    return subprocess.CompletedProcess(scope.args, scope.returncode, printed + summary, err)


# attach follows no children unless asked: the run case has the followed child
@pytest.mark.parametrize("mode,how", [(m, h) for m in ("shrink", "backwards", "junk", "ids", "child-junk")
                                      for h in ("run", "attach") if (m, h) != ("child-junk", "attach")])
def test_a_target_breaking_its_ring_is_refused_alone(tmp_path, mode, how):
    """The target runs as user nobody (setpriv), recorded with `run` and with
    `attach`; with child-junk the attacker is a followed child."""
    out = tmp_path / "rec"
    if how == "run":
        res, peak_kib = run_as_nobody(out, mode)
        # bounded: a head moved back once made scope re-read 4.2 M junk records (812 MB)
        assert peak_kib < 400 * 1024, peak_kib
    else:
        res = attach_as_nobody(out, mode)
    assert res.returncode == 0 and "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    assert "uid 65534" in res.stdout, res.stdout       # the attacker is not root
    assert run_scope("store", "verify", str(out)).returncode == 0
    meta = json.loads((out / "session.json").read_text())
    pid = meta["target"]["pid"]
    errors, lost = meta["shim"]["ring_errors"], meta["drops"].get("ring_refused", 0)
    got = counts(out)
    if mode == "shrink":
        assert "shrink refused 1\n" in res.stdout                      # EPERM: the seals hold
        assert errors == [] and got == {("before", pid): 100, ("after", pid): 200}
    elif mode == "backwards":
        assert len(errors) == 1 and errors[0].startswith(f"process {pid}'s ring head moved backwards (0 after ")
        assert f"  ring     process {pid}'s ring head moved backwards" in res.stdout    # the summary says it
        assert got == {("before", pid): 100} and lost >= 400          # after(): 200 calls, counted lost
    elif mode == "junk":
        assert errors[0].startswith(f"process {pid}'s ring holds 1,000 records no shim writes")
        assert got == {("before", pid): 100} and lost >= 1000 + 400
    elif mode == "ids":         # calls claiming an app event's name (0xf0000001)
        assert errors[0].startswith(f"process {pid}'s ring holds 1,000 records with ids no shim gives (code 0xf0000001)")
        assert got == {("before", pid): 100} and lost >= 1000 + 400
    else:
        (child,) = [r["pid"] for r in query_json(out, "--sql", "select pid from processes where ppid is not null")]
        assert len(errors) == 1 and errors[0].startswith(f"process {child}'s ring holds 1,000 records no shim writes")
        # the parent's calls, before and after its child broke its own ring: every one
        assert got[("before", pid)] == 100 and got[("after", pid)] == 200


def test_a_target_publishing_forever_cannot_keep_scope_from_finishing(tmp_path):
    """The target publishes well-formed records as fast as its ring takes them
    (faster than scope indexes), before and after scope stops (--duration 2).
    scope indexes what the ring had published when capture ended, then
    finishes: it does not index forever. (The backlog is kept small and off
    disk here: the flood is endless.)"""
    out = tmp_path / "rec"
    target = start_with_shim("hostile_ring.py", "endless", "attached", user=65534, group=65534, extra_groups=[])
    try:
        scope = subprocess.Popen(scope_cmd("attach", str(target.pid), "-o", str(out), "--no-inject",
                                           "--duration", "2", "--max-backlog", "8M", "--max-spill", "0"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _, err = scope.communicate(timeout=120)
        finally:
            if scope.poll() is None:
                scope.kill()
        assert scope.returncode == 0, err
        assert target.poll() is None             # still publishing: scope finished regardless
    finally:
        target.kill()
        target.wait()
    meta = json.loads((out / "session.json").read_text())
    assert meta["stop_reason"] == "duration", meta["shim"]
    assert meta["shim"]["ring_errors"] == [] and meta["errors"] == [], meta["shim"]
    assert meta["counts"]["events"].get("call", 0) > 1000       # it did record what came before the stop
    assert meta["indexed_after_stop_s"] < 60


def test_a_ring_without_seals_is_refused(tmp_path):
    """The collector's side, directly: a memfd like the shim's but not sealed is
    refused before it is mapped for reading; sealed, it is read (the control)."""
    from scope.collector.shmring import RingConsumer, RingError, RingRefused
    from scope.probes.layout import header_constants
    consts = header_constants()
    size = consts["SCOPE_RING_HEADER"] + 1024 * 32

    def ring(sealed: bool) -> int:
        fd = os.memfd_create("scope-ring", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.ftruncate(fd, size)
        with mmap.mmap(fd, size) as m:
            struct.pack_into("=QIIQQ", m, 0, 0x31474E4952504F43, 1, 32, 1024, os.getpid())
        if sealed:
            import fcntl
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
        return fd
    bare, sealed = ring(False), ring(True)
    try:
        with pytest.raises(RingRefused, match="not sealed against resizing"):
            RingConsumer(os.getpid(), bare, size)
        consumer = RingConsumer(os.getpid(), sealed, size)
        assert consumer.capacity == 1024 and len(consumer.take()) == 0
        # records are checked in bulk: a call as the shim writes it is read (the control);
        # one with a flag no shim sets refuses the ring
        with mmap.mmap(sealed, size) as m:
            record = consts["SCOPE_RING_HEADER"]
            for i, flags in enumerate((kinds.F_RESUME, 0x400)):
                struct.pack_into("=QIIIiHHi", m, record + 32 * i, 5, os.getpid(), os.getpid(), 0xE0000001, 3,
                                 kinds.CALL, flags, 0)
                struct.pack_into("=Q", m, 64, i + 1)
                if i == 0:
                    assert consumer.take()["code"].tolist() == [0xE0000001]
        with pytest.raises(RingRefused, match="flags 0x400"):
            consumer.take()
        consumer.close()
        with pytest.raises(RingRefused, match="not the 4096 it announced"):
            RingConsumer(os.getpid(), sealed, 4096)
        # a capacity of 2^40 written into the header before scope maps it
        with mmap.mmap(sealed, size) as m:
            struct.pack_into("=Q", m, 16, 1 << 40)
        with pytest.raises(RingRefused, match="says it holds 1099511627776 records"):
            RingConsumer(os.getpid(), sealed, size)
        # the ring's descriptor replaced by another file (dup2 of /dev/urandom)
        urandom = os.open("/dev/urandom", os.O_RDONLY)
        try:
            with pytest.raises((RingRefused, RingError)):
                RingConsumer(os.getpid(), urandom, size)
        finally:
            os.close(urandom)
    finally:
        os.close(bare)
        os.close(sealed)
