"""Nothing the target chose runs as root (issue 30, findings 1 and 3).

Finding 1: an attacker (uid 65534) runs its own copy of python3.11, deletes it,
and leaves at its path a symlink to /usr/bin/python3.11 beside a pyvenv.cfg
whose home holds an `encodings` package that writes a marker: whoever runs that
path, even with -I -S, imports the attacker's code. Control: run as root the
way scope did before, the marker appears with uid 0; `scope attach` (which
reads the interpreter's file instead, through /proc/PID/exe) never makes it,
and still records the target's calls, through the shim built from the
attacker's own headers in the sandbox and injected by gdb running as the
attacker.

Finding 3: while gcc runs, its folders and output are beyond uid 65534's
reach (control: the old layout, a folder of nobody's, is not), and what the
compiler hands back is taken only if it is a real shared object (control: the
old copy followed a symlink to /etc/shadow).
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

from scope.probes import build, shim
from scope.probes.inject import _run_gdb, gdb_user
from scope.probes.interp import ShimBuildError

from .conftest import PYTHON, run_scope, top_counts, wait_for, wait_until

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
APP = """\
import time


def tick(i):
    return i * 2


print("ready", flush=True)
while True:
    for i in range(200):
        tick(i)
    time.sleep(0.01)
"""
# the attacker's encodings: a marker with the uid it runs as, then the real package
ENCODINGS = """\
import os
_fd = os.open({marker!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
os.write(_fd, b"%d\\n" % os.getuid())
os.close(_fd)
__path__.append("/usr/lib/python3.11/encodings")
_real = "/usr/lib/python3.11/encodings/__init__.py"
_fd = os.open(_real, os.O_RDONLY)
_src = os.read(_fd, 1 << 20)
os.close(_fd)
exec(compile(_src, _real, "exec"))
"""
PLANT = """\
set -e
rm {home}/bin/python3.11
ln -s /usr/bin/python3.11 {home}/bin/python3.11
mkdir -p {home}/h/lib/python3.11
for f in /usr/lib/python3.11/*; do ln -s "$f" {home}/h/lib/python3.11/; done
rm {home}/h/lib/python3.11/encodings
mkdir {home}/h/lib/python3.11/encodings
cp {home}/encodings.py {home}/h/lib/python3.11/encodings/__init__.py
printf 'home = %s\\n' {home}/h > {home}/bin/pyvenv.cfg
"""


@pytest.fixture(scope="module")
def cache():
    """A fresh shim cache any target can read (so the shim is built in these tests)."""
    folder = Path(tempfile.mkdtemp(prefix="scope-trust-cache-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def attacker():
    """(the attacker's running target, its home, the marker file): the copy it
    runs deleted and the planted path in place, its headers in its own prefix."""
    base = Path(tempfile.mkdtemp(prefix="scope-trust-"))      # nobody can enter it but through 0755
    base.chmod(0o755)
    home, marks = base / "attacker", base / "marks"
    for folder in (home, home / "bin", marks):
        folder.mkdir()
    marks.chmod(0o777)
    shutil.copy(PYTHON, home / "bin" / "python3.11")
    shutil.copytree("/usr/include/python3.11", home / "include" / "python3.11")
    (home / "app.py").write_text(APP)
    (home / "encodings.py").write_text(ENCODINGS.format(marker=str(marks / "marker")))
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(home)], check=True)
    target = subprocess.Popen([*AS_NOBODY, str(home / "bin" / "python3.11"), str(home / "app.py")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline() == "ready\n"
        subprocess.run([*AS_NOBODY, "sh", "-c", PLANT.format(home=home)], check=True, timeout=60)
        # the premise: the path psutil gives (what scope used to run) is the planted symlink
        assert psutil.Process(target.pid).exe() == str(home / "bin" / "python3.11")
        assert os.readlink(home / "bin" / "python3.11") == "/usr/bin/python3.11"
        yield target, home, marks / "marker"
    finally:
        target.kill()
        target.wait()
        shutil.rmtree(base)


@pytest.mark.parametrize("options", [[], ["--inject"]], ids=["default", "inject"])
def test_attach_never_runs_the_targets_interpreter(tmp_path, attacker, cache, options):
    target, home, marker = attacker
    out = tmp_path / "rec"
    res = run_scope("attach", str(target.pid), "--duration", "1", "-o", str(out), *options,
                    env=dict(os.environ, SCOPE_SHIM_CACHE=str(cache)))
    assert res.returncode == 0, res.stderr
    assert not marker.exists(), marker.read_text()
    assert top_counts(out, "*/app.py").get("tick", 0) > 0           # the target's calls, recorded
    calls = json.loads((out / "session.json").read_text())["target"]["calls"]
    assert calls["source"] == "shim", calls                          # built from its headers, injected
    # the control: what scope did before (run the path psutil gives, -I -S, as root) runs the attacker's code
    subprocess.run([str(home / "bin" / "python3.11"), "-I", "-S", "-c", "pass"], check=True, timeout=60)
    assert marker.read_text() == "0\n"


def test_gdb_runs_as_the_targets_user(attacker):
    """gdb, which reads the target's files, runs with the target's uid and no
    capability; against a root target (control), as root."""
    target, _, _ = attacker
    from scope.probes.target import inspect_process
    user = gdb_user(inspect_process(target.pid))
    assert user == (NOBODY, NOBODY)
    said = _run_gdb(target.pid, "shell id -u; grep CapEff /proc/self/status\ndetach\nquit\n", 60, user)
    assert re.search(rf"^{NOBODY}\nCapEff:\s+0+$", said, re.M), said
    mine = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(60)"])
    try:
        wait_until(lambda: psutil.Process(mine.pid).exe() == os.path.realpath(PYTHON), "the control target runs")
        assert gdb_user(inspect_process(mine.pid, require_markers=False)) is None
        said = _run_gdb(mine.pid, "shell id -u\ndetach\nquit\n", 60, None)
        assert re.search(r"^0$", said, re.M), said
    finally:
        mine.kill()
        mine.wait()


WRAPPER = """\
#!/bin/sh
{{ echo "cwd $(pwd)"; grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status
   env; }} > {box}/report.tmp && mv {box}/report.tmp {box}/report
i=0
while [ ! -e {box}/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
{after}
"""
# what nobody tries on the build folder (1) while gcc runs; each must fail
ATTEMPTS = ["touch {work}/planted", "ls {work}", "touch {work}/out/planted", "ln -s /etc/shadow {work}/out/x.so",
            "echo '#error x' >> {work}/src/src/module.c", "touch {work}/include/planted",
            "cat {work}/src/src/module.c", "ls {work}/include"]


@pytest.fixture
def wrapped_gcc(monkeypatch, tmp_path):
    """gcc replaced by a wrapper that reports its credentials and waits for "go";
    ``after``: what it does then (default: run the real gcc)."""
    box = Path(tempfile.mkdtemp(prefix="scope-gccbox-"))
    box.chmod(0o777)
    wrapper = box / "gcc"

    def install(after: str = 'exec /usr/bin/gcc "$@"'):
        wrapper.write_text(WRAPPER.format(box=box, after=after))
        wrapper.chmod(0o755)
        monkeypatch.setattr(build, "GCC", str(wrapper))
        monkeypatch.setattr(shim, "SHIM_CACHE", tmp_path / "cache")
        return box
    yield install
    shutil.rmtree(box)


def _build_in_thread() -> list:
    result: list = []

    def run():
        try:
            result.append(shim.build_shim(PYTHON, force=True))
        except ShimBuildError as exc:
            result.append(exc)
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    result.append(worker)
    return result


def _as_nobody(command: str) -> int:
    return subprocess.run([*AS_NOBODY, "sh", "-c", command], capture_output=True, timeout=60).returncode


def test_the_compiler_runs_where_nobody_can_reach(wrapped_gcc, tmp_path):
    box = wrapped_gcc()
    result = _build_in_thread()
    wait_for(box / "report", timeout=120)
    report = (box / "report").read_text()
    work = Path(re.search(r"^cwd (.*)/out$", report, re.M).group(1))
    try:
        assert re.search(rf"^Uid:\s+{build.BUILD_ID}\s+{build.BUILD_ID}\s+{build.BUILD_ID}\s+{build.BUILD_ID}$",
                         report, re.M)
        assert re.search(rf"^Gid:\s+{build.BUILD_ID}\s", report, re.M) and re.search(r"^Groups:\s*$", report, re.M)
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert re.search(rf"^{cap}:\s+0+$", report, re.M), cap
        assert re.search(r"^NoNewPrivs:\s+1$", report, re.M)
        env = {line.split("=", 1)[0] for line in report.splitlines() if re.match(r"^[A-Z_]+=", line)}
        assert env <= {"PATH", "TMPDIR", "PWD"}, env
        st = os.stat(work)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, build.BUILD_ID, 0o710)
        st = os.stat(work / "out")
        assert (st.st_uid, st.st_mode & 0o777) == (build.BUILD_ID, 0o700)
        for attempt in ATTEMPTS:
            assert _as_nobody(attempt.format(work=work)) != 0, attempt
        # the control: the same attempts on the old layout (a work folder of nobody's) succeed
        old = Path(tempfile.mkdtemp(prefix="scope-gcc-"))
        try:
            for sub in ("out", "src/src", "include"):
                (old / sub).mkdir(parents=True)
            (old / "src" / "src" / "module.c").touch()
            subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(old)], check=True)
            for attempt in ATTEMPTS:
                assert _as_nobody(attempt.format(work=old)) == 0, attempt
        finally:
            shutil.rmtree(old)
    finally:
        (box / "go").touch()
    result[0].join(300)
    assert isinstance(result[1], Path), result[1]
    assert shim.shim_extension(result[1]).name == "_shim.cpython-311-x86_64-linux-gnu.so"
    assert not work.exists()                       # the build folder is gone


def test_a_link_the_compiler_hands_back_is_refused(wrapped_gcc, tmp_path):
    """The swap of finding 3, done by the compiler's own user: its output replaced
    by a symlink to /etc/shadow. Root refuses it, and the cache stays empty;
    the control: the copy scope made before follows the link to the file."""
    out_of = 'for a in "$@"; do o="$a"; done'        # the last argument: the output path
    box = wrapped_gcc(f'/usr/bin/gcc "$@" && {out_of} && rm -f "$o" && ln -s /etc/shadow "$o"')
    (box / "go").touch()
    result = _build_in_thread()
    result[0].join(300)
    assert isinstance(result[1], ShimBuildError) and "cannot be opened safely" in str(result[1]), result[1]
    assert not list((tmp_path / "cache").glob("*/scope_shim/*.so"))
    os.symlink("/etc/shadow", tmp_path / "x.so")
    shutil.copyfile(tmp_path / "x.so", tmp_path / "copied")           # shim.py's old copy
    assert (tmp_path / "copied").read_bytes() == Path("/etc/shadow").read_bytes()


# the attacker's Python.h then embeds whatever root copied beside it into the shim (review W3, a8)
INCBIN = ('__asm__(".pushsection .rodata.leak,\\"a\\"\\n.incbin \\"../include{prefix}/include/'
          'x86_64-linux-gnu/python3.11/.ssh/id_ed25519\\"\\n.popsection");\n')


def test_a_header_link_to_a_root_only_folder_is_never_copied():
    """Review W3 (host, no namespace): the attacker runs its own python3.11
    from PREFIX/bin; PREFIX/include/python3.11 is its own (an .incbin added to
    Python.h) and PREFIX/include/x86_64-linux-gnu/python3.11 a symlink to a
    folder only root may read. `attach --inject` reads the headers as the
    target's user: one line (permission denied), the secret nowhere in the
    shim cache or the recording. The control: root's copy (the old
    copy_out("/", …)) follows the link and reads the secret."""
    from scope.probes.container import copy_out
    secret = f"ROOT-ONLY-KEY-{os.urandom(8).hex()}"
    base = Path(tempfile.mkdtemp(prefix="scope-trust-w3-"))
    base.chmod(0o755)
    try:
        rootonly = base / "rootonly"
        (rootonly / ".ssh").mkdir(parents=True, mode=0o700)
        rootonly.chmod(0o700)
        (rootonly / ".ssh" / "id_ed25519").write_text(secret + "\n")
        (rootonly / ".ssh" / "id_ed25519").chmod(0o600)
        prefix = base / "att" / "py"
        (prefix / "bin").mkdir(parents=True)
        (prefix / "include" / "x86_64-linux-gnu").mkdir(parents=True)
        shutil.copy(PYTHON, prefix / "bin" / "python3.11")
        shutil.copytree("/usr/include/python3.11", prefix / "include" / "python3.11")
        with open(prefix / "include" / "python3.11" / "Python.h", "a") as fh:
            fh.write(INCBIN.format(prefix=prefix))
        (prefix / "include" / "x86_64-linux-gnu" / "python3.11").symlink_to(rootonly)
        subprocess.run(["chown", "-R", "-h", f"{NOBODY}:{NOBODY}", str(base / "att")], check=True)
        (base / "app.py").write_text(APP)
        cache, out = base / "cache", base / "rec"
        cache.mkdir(mode=0o755)
        target = subprocess.Popen([*AS_NOBODY, str(prefix / "bin" / "python3.11"), str(base / "app.py")],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert target.stdout.readline() == "ready\n"
            res = run_scope("attach", str(target.pid), "--inject", "--duration", "1", "-o", str(out),
                            env=dict(os.environ, SCOPE_SHIM_CACHE=str(cache)), timeout=300)
        finally:
            target.kill()
            target.wait()
        assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
        assert re.match(rf"scope: error: cannot copy {prefix}/include/python3.11/, .* out of / as uid {NOBODY}: "
                        "Permission denied", res.stderr), res.stderr
        found = subprocess.run(["grep", "-r", "-l", "-a", secret, str(cache), str(base / "att")],
                               capture_output=True, text=True)
        assert found.stdout == "" and not out.exists(), found.stdout
        mine = base / "old"                  # the control: root's naive copy reads the secret
        mine.mkdir()
        copy_out("/", [f"{prefix}/include/x86_64-linux-gnu/python3.11/"], mine)
        leaked = mine.joinpath(*prefix.parts[1:], "include", "x86_64-linux-gnu", "python3.11", ".ssh", "id_ed25519")
        assert leaked.read_text() == secret + "\n"
    finally:
        shutil.rmtree(base)
