"""A root scope does not own is never entered by a root process of scope
(issue 30, finding 2 and the container part of finding 4).

The attacker here is whoever made the image: its /etc/nsswitch.conf names an
NSS module of its own (`passwd: evil files`), whose constructor writes a marker
file (its uid) in the root's /tmp. A root process chrooted into the image that
asks for a user's name — python's `pwd`, or `tarfile.add`, which scope's header
copy used — loads it (the pattern of sudo's CVE-2025-32463): that is the
positive control. scope (`run -- chroot IMAGE python3.14`, and `attach
--inject` into a container of that image, the shim built with the image's
headers both times) never makes the marker, and records the program's calls.

Finding 4: a FIFO for the image's dpkg status or for a header, and a sparse
1 GiB header, end `run` and `attach --inject` with one clear line (the
subprocess timeout is the deadline), scope's peak memory bounded (the control:
the file's real size, and an ordinary reader blocking on the FIFO).

The image is the sid root of tests/container/ under an overlay whose upper
layer holds only what the attacker planted (nothing of its 330 MB is copied).
"""
from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.container.container import IMAGE, Container

from .conftest import TARGETS, query_json, run_scope, scope_cmd, top_counts, wait_until
from .test_container import FIB_MAIN, FIB_THREAD, RUN_APP, WORKLOAD, finish, record

NOBODY = 65534
MAX_RSS = 500 << 20          # bytes: scope's peak while refusing a 1 GiB header
EVIL = r"""
#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/scope-nss-evil-%s-%d", TOKEN, (int)getpid());
    FILE *f = fopen(path, "w");
    if (f) { fprintf(f, "uid=%d\n", (int)getuid()); fclose(f); }
}
"""
HEADERS = ("/usr/include/python3.14", "/usr/include/x86_64-linux-gnu/python3.14")
# runs scope, then says the largest resident size of it and its children (KiB)
PEAK = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
        "print('peak', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)")


class Evil:
    """The attacker's layer over the image, and where its markers would appear."""

    def __init__(self, upper: Path) -> None:
        self.upper, self.token = upper, secrets.token_hex(6)

    def plant_nss(self) -> None:
        lib = self.upper / "usr" / "lib" / "x86_64-linux-gnu"       # /lib is a link to usr/lib in the image
        (self.upper / "etc").mkdir(parents=True, exist_ok=True)
        lib.mkdir(parents=True, exist_ok=True)
        src = self.upper.parent / "evil.c"
        src.write_text(EVIL)
        subprocess.run(["gcc", "-shared", "-fPIC", f"-DTOKEN=\"{self.token}\"", "-o",
                        str(lib / "libnss_evil.so.2"), str(src)], check=True)
        (self.upper / "etc" / "nsswitch.conf").write_text("passwd: evil files\ngroup: evil files\n"
                                                          "shadow: evil files\n")
        self._own()

    def hide(self, *paths: str) -> None:
        """Paths of the image the attacker's root lacks (overlay whiteouts)."""
        for path in paths:
            out = self.upper / path.lstrip("/")
            out.parent.mkdir(parents=True, exist_ok=True)
            os.mknod(out, 0o600 | stat.S_IFCHR, os.makedev(0, 0))

    def fifo(self, path: str) -> Path:
        out = self.upper / path.lstrip("/")
        out.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(out, 0o644)
        self._own()
        return out

    def sparse(self, path: str, size: int) -> Path:
        out = self.upper / path.lstrip("/")
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as fh:
            fh.truncate(size)
        self._own()
        return out

    def _own(self) -> None:
        """The planted files are the attacker's (uid 65534)."""
        tmp = self.upper / "tmp"
        tmp.mkdir(exist_ok=True)
        tmp.chmod(0o1777)
        for path in self.upper.rglob("*"):
            if not (path.is_char_device() and os.stat(path, follow_symlinks=False).st_rdev == 0):
                os.chown(path, NOBODY, NOBODY, follow_symlinks=False)

    def markers(self) -> dict[str, str]:
        """Marker file -> its text: in the root's /tmp, and the host's (had it run unconfined)."""
        found = [*self.upper.glob(f"tmp/scope-nss-evil-{self.token}-*"),
                 *Path("/tmp").glob(f"scope-nss-evil-{self.token}-*")]
        return {str(p): p.read_text() for p in found}


@pytest.fixture
def evil(tmp_path):
    upper = tmp_path / "c" / "upper"        # Container's own layout: folder/upper
    upper.mkdir(parents=True)
    yield Evil(upper)
    for path in Path("/tmp").glob("scope-nss-evil-*"):
        path.unlink()


@pytest.fixture
def mount(tmp_path, evil):
    """Mounts the image with the attacker's layer here (as `chroot DIR` needs),
    once the layer is planted (an overlay's layers are not changed while mounted)."""
    assert IMAGE.exists(), f"{IMAGE} is missing (make setup builds it: tests/container/build.sh)"
    folder = tmp_path / "c"
    lower, work, root = folder / "lower", folder / "work", folder / "root"
    mounted = []

    def mount() -> Path:
        for d in (lower, work, root):
            d.mkdir()
        subprocess.run(["mount", "-o", "loop,ro", str(IMAGE), str(lower)], check=True)
        mounted.append(lower)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={evil.upper},workdir={work}", str(root)], check=True)
        mounted.append(root)
        (root / "tmp" / "app.py").write_text(RUN_APP)
        return root

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)])


@pytest.mark.parametrize("asks", [
    "import pwd; pwd.getpwuid(0)",
    "import io, tarfile; tarfile.open(fileobj=io.BytesIO(), mode='w').add('/usr/include/python3.14')",
])
def test_a_root_process_chrooted_into_the_image_loads_its_nss_module(evil, mount, asks):
    """The positive control: the attack works on a root process inside the image
    (the second is what scope's header copy did, in a child chrooted there)."""
    evil.plant_nss()
    mounted = mount()
    res = subprocess.run(["chroot", str(mounted), "/usr/bin/python3.14", "-c", asks],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert list(evil.markers().values()) == ["uid=0\n"]


def test_scope_run_chroot_never_loads_the_images_nss_module(tmp_path, evil, mount):
    """`scope run -- chroot IMAGE python3.14 app.py`: the interpreter found, the
    headers copied and the shim placed in the image's /tmp, all from the host
    side; the program runs as nobody, as a hostile image's would."""
    evil.plant_nss()
    mounted = mount()
    cmd = ["chroot", f"--userspec={NOBODY}:{NOBODY}", str(mounted), "/usr/bin/python3.14", "/tmp/app.py"]
    plain = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0 and evil.markers() == {}        # the program itself never asks
    out = tmp_path / "rec"
    res = subprocess.run(scope_cmd("run", "-o", str(out), "--", *cmd), capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert res.stdout.startswith(plain.stdout)
    assert evil.markers() == {}
    assert top_counts(out, "/tmp/app.py") == {"<module>": 1, "main": 1, "fib": FIB_MAIN}
    complete = query_json(out, "--sql", "select count(*) n from calls c join code k on k.pid = c.pid and "
                          "k.code_id = c.code_id where k.function = 'fib' and c.status = 'complete'")
    assert complete[0]["n"] == FIB_MAIN                 # through the shim built with the image's headers


def _container(tmp_path) -> tuple[Container, subprocess.Popen, int]:
    box = Container(tmp_path / "c", ["/usr/bin/python3.14", f"/targets/{WORKLOAD}"], binds={"/targets": str(TARGETS)},
                    image=IMAGE)
    proc = box.start(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    return box, proc, box.pid()


def test_attach_inject_never_loads_the_images_nss_module(tmp_path, evil):
    """`scope attach --inject` into a container of the image: the headers come
    out and the shim goes in from the host side; no marker, every call recorded."""
    assert IMAGE.exists(), f"{IMAGE} is missing (make setup builds it: tests/container/build.sh)"
    evil.plant_nss()
    box, proc, pid = _container(tmp_path)
    try:
        (_, _), out = record(tmp_path, box, proc, pid, "--inject")
    finally:
        box.stop()
    assert evil.markers() == {}
    fibs = query_json(out, "--sql", "select count(*) n from calls c join code k on k.pid = c.pid and "
                      "k.code_id = c.code_id where k.function = 'fib' and c.status = 'complete'")
    assert fibs[0]["n"] == FIB_MAIN + FIB_THREAD


# ---- finding 4: what the image holds never makes scope wait or grow for ever

CASES = {
    "status-fifo": ("/var/lib/dpkg/status of {root} is a FIFO, not a regular file"),
    "header-fifo": ("/usr/include/python3.14/abstract.h of {root} is a FIFO, not a regular file"),
    "header-sparse": ("/usr/include/python3.14/abstract.h of {root} is 1024 MiB"),
}


def _plant(evil: Evil, case: str) -> Path:
    if case == "status-fifo":         # no headers: scope reads the dpkg status to fetch Debian's
        evil.hide(*HEADERS)
        return evil.fifo("/var/lib/dpkg/status")
    if case == "header-fifo":
        return evil.fifo("/usr/include/python3.14/abstract.h")
    return evil.sparse("/usr/include/python3.14/abstract.h", 1 << 30)


def _peak(args: list[str], env: dict) -> tuple[subprocess.CompletedProcess, int]:
    res = subprocess.run([sys.executable, "-c", PEAK, *scope_cmd(*args)], capture_output=True, text=True,
                         timeout=180, env=env)
    *lines, peak = res.stderr.splitlines()
    assert peak.startswith("peak "), res.stderr
    return subprocess.CompletedProcess(res.args, res.returncode, res.stdout, "\n".join(lines) + "\n"), \
        int(peak.split()[1]) << 10


def _check(res: subprocess.CompletedProcess, peak: int, planted: Path, line: str) -> None:
    assert res.returncode == 1, res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("scope: error: "), res.stderr
    assert line in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert peak < MAX_RSS, peak
    if stat.S_ISFIFO(planted.stat().st_mode):       # the control: an ordinary reader waits for ever
        with pytest.raises(subprocess.TimeoutExpired):
            subprocess.run(["cat", str(planted)], timeout=1)
    else:                                           # the control: what reading it whole would cost
        assert planted.stat().st_size == 1 << 30 > MAX_RSS


@pytest.mark.parametrize("case", list(CASES))
def test_run_chroot_ends_with_one_line(tmp_path, evil, mount, case):
    planted = _plant(evil, case)
    mounted = mount()
    env = dict(os.environ, SCOPE_HEADERS_CACHE=str(tmp_path / "headers"), SCOPE_SHIM_CACHE=str(tmp_path / "shim"))
    res, peak = _peak(["run", "-o", str(tmp_path / "rec"), "--", "chroot", str(mounted),
                       "/usr/bin/python3.14", "/tmp/app.py"], env)
    _check(res, peak, planted, CASES[case].format(root=mounted))
    assert not (tmp_path / "headers").exists() or not any((tmp_path / "headers").iterdir())


@pytest.mark.parametrize("case", list(CASES))
def test_attach_inject_ends_with_one_line(tmp_path, evil, case):
    assert IMAGE.exists(), f"{IMAGE} is missing (make setup builds it: tests/container/build.sh)"
    planted = _plant(evil, case)
    box, proc, pid = _container(tmp_path)
    env = dict(os.environ, SCOPE_HEADERS_CACHE=str(tmp_path / "headers"), SCOPE_SHIM_CACHE=str(tmp_path / "shim"))
    try:
        res, peak = _peak(["attach", str(pid), "--inject", "-o", str(tmp_path / "rec")], env)
        finish(proc)                 # the target itself is untouched and runs to its end
    finally:
        box.stop()
    _check(res, peak, planted, CASES[case].format(root=f"/proc/{pid}/root"))


# ---- review W1, W2, W3: a target in a user and mount namespace of its own (`unshare -Urm`,
# host uid 65534) mounts root's files where scope works for it; scope works there as its user

# the attacker's target: for each "PATTERN=FOLDER" argument, every new folder matching
# PATTERN gets a pwn/ with FOLDER (root's) bind-mounted on it, in its own namespace
MOUNTER = r"""
import glob, os, subprocess, sys, time
log, pairs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]


def tick(i):
    return i * 2


print("ready", flush=True)
done = set()
while True:
    for i in range(100):
        tick(i)
    for pattern, victim in pairs:
        for d in glob.glob(pattern):
            if d in done:
                continue
            done.add(d)
            try:
                os.mkdir(d + "/pwn")
                r = subprocess.run(["mount", "--bind", victim, d + "/pwn"], capture_output=True, text=True)
                said = f"mounted {d} {r.returncode} {r.stderr.strip()}"
            except OSError as e:
                said = f"failed {d} {e}"
            with open(log, "a") as fh:
                fh.write(said + "\n")
    time.sleep(0.02)
"""
SECRET = "TOPSECRET-root-only-"


@pytest.fixture
def base():
    """A folder uid 65534 may enter (0755, root's), for the attacker's files and root's victims
    (not under /tmp, which one test mounts over)."""
    import shutil
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="scope-trust-ns-", dir="/var/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def _victim(base: Path, name: str) -> Path:
    folder = base / name
    folder.mkdir(mode=0o755)
    for i in range(3):
        (folder / f"keep{i}").write_text(f"root's file {i}\n")
        (folder / f"keep{i}").chmod(0o644)
    return folder


def _ns_target(base: Path, prelude: str, *args: str) -> subprocess.Popen:
    """python3.11 as uid 65534 in a user and mount namespace of its own, after
    ``prelude`` (shell, as the namespace's root) has set up its mounts."""
    app = base / "mounter.py"
    app.write_text(MOUNTER)
    app.chmod(0o644)
    marks = base / "marks"
    marks.mkdir(mode=0o777, exist_ok=True)
    marks.chmod(0o777)
    script = f"set -eu\n{prelude}\nexec /usr/bin/python3.11 \"$@\""
    target = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                               "unshare", "-Urm", "bash", "-c", script, "sh", str(app), str(marks / "log"), *args],
                              stdout=subprocess.PIPE, text=True)
    assert target.stdout.readline() == "ready\n"
    assert os.readlink(f"/proc/{target.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    assert os.stat(f"/proc/{target.pid}/status").st_uid == NOBODY
    return target


def _log(base: Path) -> str:
    path = base / "marks" / "log"
    return path.read_text() if path.exists() else ""


def _shim_env(base: Path) -> dict:
    cache = base / "cache"
    cache.mkdir(mode=0o755, exist_ok=True)
    return dict(os.environ, SCOPE_SHIM_CACHE=str(cache), SCOPE_HEADERS_CACHE=str(base / "headers"))


def test_remove_never_follows_a_mount_the_target_made_in_its_folder(tmp_path, base):
    """W1: the attacker bind-mounts a folder of root's into scope's folder in
    its /tmp before detach: after scope, root's files are all there. The
    control, on a second copy: the old removal (rmtree by descriptors, as root,
    through /proc/PID/root) follows the mount and deletes them."""
    from scope.probes import container, rootfs
    victim, victim2 = _victim(base, "victim"), _victim(base, "victim2")
    token = secrets.token_hex(4)
    target = _ns_target(base, "", f"/tmp/scope-shim-*={victim}", f"/tmp/ctl-{token}-*={victim2}")
    placed = []
    try:
        res = run_scope("attach", str(target.pid), "--inject", "--duration", "3", "-o", str(tmp_path / "rec"),
                        env=_shim_env(base), timeout=300)
        assert "Traceback" not in res.stderr, res.stderr
        placed = re.findall(r"^mounted (/tmp/scope-shim-[0-9a-f]{16}) 0 $", _log(base), re.M)
        assert len(placed) == 1, (_log(base), res.stderr)          # the attack was made
        assert res.returncode == 0, res.stderr
        assert sorted(p.name for p in victim.iterdir()) == ["keep0", "keep1", "keep2"]
        # the control: the old place (mkdir, chown to the target) and remove, as root
        with rootfs.held(container.root_of(target.pid)) as fd:
            tmp = rootfs.open_in(fd, "/tmp", os.O_PATH | os.O_DIRECTORY)
            try:
                name = f"ctl-{token}-1"
                os.mkdir(name, 0o700, dir_fd=tmp)
                os.chown(name, NOBODY, NOBODY, dir_fd=tmp)
                wait_until(lambda: f"mounted /tmp/{name} 0" in _log(base), "the attacker's mount", 30)
                import shutil
                shutil.rmtree(name, dir_fd=tmp, ignore_errors=True)
            finally:
                os.close(tmp)
        assert list(victim2.iterdir()) == []
    finally:
        target.kill()
        target.wait()
        for folder in placed:           # left by scope (pwn/ in it); its namespace, and mount, are gone
            here = Path(folder)
            if here.is_dir() and not os.path.ismount(here / "pwn"):
                import shutil
                shutil.rmtree(here)


def test_nothing_of_the_targets_is_made_in_a_folder_of_roots(tmp_path, base):
    """W2: the attacker's /tmp is a folder of root's (0755) mounted there:
    scope makes nothing in it (one line, as the target's user: permission
    denied). The control: root doing the old sequence makes a folder of the
    attacker's inside root's."""
    from scope.probes import container, rootfs
    roots = base / "roottmp"
    roots.mkdir(mode=0o755)
    target = _ns_target(base, f"mount --bind {roots} /tmp")
    try:
        res = run_scope("attach", str(target.pid), "--inject", "--duration", "1", "-o", str(tmp_path / "rec"),
                        env=_shim_env(base), timeout=300)
        assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
        assert re.match(r"scope: error: cannot write /tmp/scope-shim-[0-9a-f]{16} of /proc/\d+/root as uid 65534: "
                        r"Permission denied", res.stderr), res.stderr
        assert list(roots.iterdir()) == []
        with rootfs.held(container.root_of(target.pid)) as fd:       # the control
            tmp = rootfs.open_in(fd, "/tmp", os.O_PATH | os.O_DIRECTORY)
            try:
                os.mkdir("old", 0o700, dir_fd=tmp)
                os.chown("old", NOBODY, NOBODY, dir_fd=tmp)
            finally:
                os.close(tmp)
        assert os.stat(roots).st_uid == 0 and os.stat(roots / "old").st_uid == NOBODY
    finally:
        target.kill()
        target.wait()


def test_a_root_only_header_mounted_in_is_never_copied(tmp_path, base):
    """W3 (container): a root-only file bind-mounted among the target's
    headers: refused in one line, the secret nowhere in the shim cache or the
    recording. The control: the copy as root (the old copy_out) reads it."""
    from scope.probes import container
    secret = base / "secret"
    secret.write_text(f"{SECRET}{secrets.token_hex(8)}\n")
    secret.chmod(0o600)
    att = base / "att"                  # the attacker's own folder
    att.mkdir()
    os.chown(att, NOBODY, NOBODY)
    inc = att / "inc"
    prelude = (f"mkdir {inc}; cp -r /usr/include/python3.11/. {inc}/; touch {inc}/zz_secret.h\n"
               f"mount --bind {inc} /usr/include/python3.11\n"
               f"mount --bind {secret} /usr/include/python3.11/zz_secret.h")
    target = _ns_target(base, prelude)
    env = _shim_env(base)
    try:
        res = run_scope("attach", str(target.pid), "--inject", "--duration", "1", "-o", str(tmp_path / "rec"),
                        env=env, timeout=300)
        assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
        assert re.match(r"scope: error: cannot copy /usr/include/python3.11/, .* out of /proc/\d+/root as uid "
                        r"65534: Permission denied", res.stderr), res.stderr
        found = subprocess.run(["grep", "-r", "-l", "-a", SECRET, env["SCOPE_SHIM_CACHE"], str(tmp_path)],
                               capture_output=True, text=True)
        assert found.stdout == "", found.stdout
        mine = tmp_path / "old"
        mine.mkdir()
        container.copy_out(container.root_of(target.pid), ["/usr/include/python3.11/"], mine)   # the control
        assert (mine / "usr/include/python3.11/zz_secret.h").read_text() == secret.read_text()
    finally:
        target.kill()
        target.wait()
