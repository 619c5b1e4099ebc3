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
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.container.container import IMAGE, Container

from .conftest import TARGETS, query_json, scope_cmd, top_counts
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
