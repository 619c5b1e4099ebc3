"""Files inside a target's own root (probes/container.py, probes/rootfs.py):
every path resolves inside that root, the container's absolute symlinks, its
`..` and its magic links included — never on the host, where scope is root;
only regular files within bounds are read. The "container" here: a process
chrooted into a temporary folder, which holds symlinks pointing at the host's
/etc (or just that folder, held by a descriptor). Each refusal has its
control: the same name walked naively from the host reaches the host's file,
blocks, or never ends."""
from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from scope.probes import container, rootfs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")


@pytest.fixture
def contained(tmp_path):
    """(pid of a process whose root is `root`, root)."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "marker").write_text("the container's own /etc\n")
    (root / "tmp").mkdir()
    (root / "usr" / "include").mkdir(parents=True)
    # absolute symlinks: from the host they would lead to the host's /etc
    (root / "usr" / "include" / "python3.14").symlink_to("/etc")
    (root / "escape").symlink_to("/etc")
    pid = os.fork()
    if pid == 0:     # pragma: no cover - the child: sits chrooted until killed
        try:
            os.chroot(str(root))
            os.chdir("/")
            while True:
                time.sleep(1)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 30
    while os.readlink(f"/proc/{pid}/root") != str(root):     # the child has chrooted
        assert time.monotonic() < deadline, "the contained child never chrooted"
        time.sleep(0.01)
    yield pid, root
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def test_copy_out_follows_the_containers_symlinks_inside_the_container(contained, tmp_path):
    pid, _ = contained
    dest = tmp_path / "out"
    dest.mkdir()
    # the folder is a link to /etc: the container's /etc, not the host's
    n = container.copy_out(container.root_of(pid), ["/usr/include/python3.14/"], dest)
    copied = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert copied == ["usr/include/python3.14/marker"] and n == 1
    assert "hostname" not in " ".join(copied) and "passwd" not in " ".join(copied)


def test_links_inside_a_copied_folder_are_left_out(contained, tmp_path):
    pid, root = contained
    (root / "etc" / "shadow-link").symlink_to("/etc/shadow")
    dest = tmp_path / "out"
    dest.mkdir()
    container.copy_out(container.root_of(pid), ["/etc"], dest)
    assert sorted(p.name for p in (dest / "etc").iterdir()) == ["marker"]


def test_place_writes_inside_the_root_owned_by_the_target_and_remove_takes_it_away(contained, tmp_path):
    pid, root = contained
    src = tmp_path / "shim"
    (src / "scope_shim").mkdir(parents=True)
    (src / "scope_shim" / "__init__.py").write_text("# shim\n")
    folder = container.new_folder()
    owner = (os.stat(f"/proc/{pid}").st_uid, os.stat(f"/proc/{pid}").st_gid)
    ids = container.place(container.root_of(pid), folder, src, {"inject.py": "print('hi')\n"}, owner=owner)
    here = root / folder.lstrip("/")
    assert (here / "scope_shim" / "__init__.py").read_text() == "# shim\n"
    assert (here / "inject.py").read_text() == "print('hi')\n"
    st = os.stat(here / "inject.py")
    assert ids["inject.py"] == (st.st_dev, st.st_ino)
    assert (st.st_uid, oct(here.stat().st_mode & 0o777)) == (os.stat(f"/proc/{pid}").st_uid, "0o755")
    assert not Path(folder).exists()          # not on the host
    container.remove(container.root_of(pid), folder)
    assert not here.exists()


def test_place_never_writes_through_a_name_that_exists(contained, tmp_path):
    pid, root = contained
    folder = container.new_folder()
    (root / folder.lstrip("/")).symlink_to("/etc")       # planted by the container
    src = tmp_path / "shim"
    src.mkdir()
    (src / "x").write_text("x")
    with pytest.raises(container.ContainerError, match="exists already"):
        container.place(container.root_of(pid), folder, src)
    assert sorted(p.name for p in (root / "etc").iterdir()) == ["marker"]


SID = Path(os.environ.get("SCOPE_CONTAINER_CACHE", "/var/cache/scope-container")) / "root"


def test_the_shim_builds_from_headers_under_usr_local(tmp_path):
    """A python.org build (Docker's python images) keeps its headers in
    /usr/local/include: a root holding only those builds the shim."""
    from scope.probes.shim import build_shim_in_root, shim_extension
    include = SID / "usr" / "include"
    if not (include / "python3.14" / "Python.h").exists():
        pytest.skip(f"no CPython 3.14 headers in {SID} (./setup.sh builds it)")
    root = tmp_path / "root"
    import shutil
    shutil.copytree(include / "python3.14", root / "usr" / "local" / "include" / "python3.14")
    shutil.copytree(include / "x86_64-linux-gnu" / "python3.14",
                    root / "usr" / "local" / "include" / "x86_64-linux-gnu" / "python3.14")
    os.chmod(tmp_path, 0o755)
    built = build_shim_in_root(str(root), (3, 14), prefix="/usr/local")
    assert shim_extension(built).name == "_shim.cpython-314-x86_64-linux-gnu.so"
    with pytest.raises(Exception, match=r"no headers for its CPython 3.14 \(/usr/include/python3.14/Python.h"):
        build_shim_in_root(str(root), (3, 14), prefix="/usr")


# ---- probes/rootfs.py: every name resolved inside the root, from the host side


@pytest.fixture
def image(tmp_path):
    """A root folder with its own /etc/shadow, and links an image could hold."""
    root = tmp_path / "image"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "shadow").write_text("the image's own shadow\n")
    (root / "app" / "deep").mkdir(parents=True)
    (root / "app" / "abs").symlink_to("/etc/shadow")
    (root / "app" / "deep" / "rel").symlink_to("../../../../../../../../etc/shadow")
    return root


def test_absolute_and_relative_links_stay_inside_the_root(image):
    host = Path("/etc/shadow").read_bytes()
    assert host != b"the image's own shadow\n"
    with rootfs.held(str(image)) as fd:
        for name in ("/app/abs", "app/deep/rel", "/../../../../etc/shadow", "/app/../../../etc/shadow"):
            assert rootfs.read_file(fd, name, 1 << 10) == b"the image's own shadow\n", name
        assert rootfs.realpath(fd, "/app/deep/rel") == "/etc/shadow"
    # the control: the same names walked from the host land on the host's own file
    assert Path(f"{image}/app/abs").read_bytes() == host
    assert Path(f"{image}/app/deep/rel").read_bytes() == host
    assert Path(f"{image}/../../../../../../../../etc/shadow").read_bytes() == host


def test_a_magic_link_inside_the_root_is_refused(image):
    (image / "proc").mkdir()
    subprocess.run(["mount", "-t", "proc", "proc", str(image / "proc")], check=True)
    try:
        with rootfs.held(str(image)) as fd, pytest.raises(OSError) as err:
            rootfs.read_file(fd, "/proc/self/root/etc/shadow", 1 << 20)
        assert err.value.errno == errno.ELOOP
        # the control: walked from the host, /proc/self/root is the host's root
        assert Path(f"{image}/proc/self/root/etc/shadow").read_bytes() == Path("/etc/shadow").read_bytes()
    finally:
        subprocess.run(["umount", "-l", str(image / "proc")], check=True)


def test_a_fifo_is_refused_without_waiting(image):
    os.mkfifo(image / "app" / "fifo")
    with rootfs.held(str(image)) as fd, pytest.raises(rootfs.NotRegular, match=r"/app/fifo is a FIFO"):
        rootfs.read_file(fd, "/app/fifo", 1 << 20)
    # the control: an ordinary reader waits for a writer that never comes
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(["cat", str(image / "app" / "fifo")], timeout=1)


def test_a_device_is_refused_unopened(image):
    (image / "dev").mkdir()
    os.mknod(image / "dev" / "zero", 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    (image / "app" / "host-zero").symlink_to("/dev/zero")
    with rootfs.held(str(image)) as fd:
        with pytest.raises(rootfs.NotRegular, match="a character device"):
            rootfs.read_file(fd, "/app/host-zero", 1 << 20)
        os.unlink(image / "dev" / "zero")
        with pytest.raises(FileNotFoundError):          # the host's /dev/zero is not the root's
            rootfs.read_file(fd, "/app/host-zero", 1 << 20)
    # the control: read from the host, it never ends
    with open(image / "app" / "host-zero", "rb") as fh:
        assert fh.read(1 << 20) == bytes(1 << 20)


def test_an_oversize_file_is_refused_unread(image):
    big = image / "app" / "big.h"
    with open(big, "wb") as fh:
        fh.truncate(1 << 30)                  # sparse: 1 GiB that costs nothing on disk
    assert big.stat().st_size == 1 << 30     # the control: its real size
    with rootfs.held(str(image)) as fd:
        with pytest.raises(rootfs.TooLarge, match="is 1024 MiB"):
            rootfs.read_file(fd, "/app/big.h", 8 << 20)
        with pytest.raises(rootfs.TooLarge, match="is 1024 MiB"):
            rootfs.copy_tree(fd, ["/app"], image.parent / "out1")


def _headers(root: Path, n: int) -> None:
    for i in range(n):
        (root / "usr" / "include" / "python3.14" / "sub").mkdir(parents=True, exist_ok=True)
        (root / "usr" / "include" / "python3.14" / "sub" / f"h{i}.h").write_text(f"/* {i} */\n")


def test_copies_are_bounded_in_count_bytes_depth_and_time(image, tmp_path):
    _headers(image, 5)
    folders = ["/usr/include/python3.14"]
    with rootfs.held(str(image)) as fd:
        got = rootfs.copy_tree(fd, folders, tmp_path / "all")        # the control: within bounds
        assert (got.files, got.links) == (5, 0)
        for bounds, error in ((rootfs.Bounds(files=3), rootfs.TooMany), (rootfs.Bounds(total_bytes=20), rootfs.TooLarge),
                              (rootfs.Bounds(depth=0), rootfs.TooMany), (rootfs.Bounds(seconds=0), rootfs.TooSlow)):
            with pytest.raises(error):
                rootfs.copy_tree(fd, folders, tmp_path / f"out-{error.__name__}-{bounds.files}", bounds)


def test_no_openat2_is_refused_never_walked(image, tmp_path, monkeypatch):
    """A kernel before 5.6: one clear line, nothing copied by walking paths."""
    _headers(image, 1)
    monkeypatch.setattr(rootfs, "_syscall", lambda fd, raw, how: (-1, errno.ENOSYS))
    with pytest.raises(rootfs.NoOpenat2, match="has no openat2") as err:
        container.copy_out(str(image), ["/usr/include/python3.14"], tmp_path / "out")
    assert "Linux 5.6" in err.value.fix
    assert not (tmp_path / "out").exists()


def test_a_link_loop_ends(image):
    (image / "app" / "a").symlink_to("b")
    (image / "app" / "b").symlink_to("/app/a")
    with rootfs.held(str(image)) as fd:
        for call in (lambda: rootfs.realpath(fd, "/app/a"), lambda: rootfs.read_file(fd, "/app/a", 10)):
            with pytest.raises(OSError) as err:
                call()
            assert err.value.errno == errno.ELOOP


def test_a_program_is_found_inside_the_root(image):
    (image / "usr" / "bin").mkdir(parents=True)
    (image / "usr" / "bin" / "python3.14").write_bytes(b"\x7fELF")
    (image / "usr" / "bin" / "python3.14").chmod(0o755)
    (image / "usr" / "bin" / "python3").symlink_to("/usr/bin/python3.14")
    with rootfs.held(str(image)) as fd:
        assert rootfs.find_program(fd, "python3", "/nowhere:/usr/bin") == "/usr/bin/python3"
        assert rootfs.realpath(fd, "/usr/bin/python3") == "/usr/bin/python3.14"
        assert rootfs.find_program(fd, "shadow", "/etc") is None      # not executable


# ---- as the target's user (probes/asuser.py): what it could not do, scope does not either

NOBODY = (65534, 65534)


def _shim_source(tmp_path: Path) -> Path:
    src = tmp_path / "shim"
    (src / "scope_shim").mkdir(parents=True, exist_ok=True)
    (src / "scope_shim" / "__init__.py").write_text("# shim\n")
    return src


def test_place_as_the_targets_user_makes_files_born_its_own(contained, tmp_path):
    pid, root = contained
    (root / "tmp").chmod(0o1777)
    folder = container.new_folder()
    ids = container.place(container.root_of(pid), folder, _shim_source(tmp_path), {"inject.py": "x\n"}, owner=NOBODY)
    here = root / folder.lstrip("/")
    for path in (here, here / "scope_shim", here / "scope_shim" / "__init__.py", here / "inject.py"):
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == NOBODY, path
    st = os.stat(here / "inject.py")
    assert ids["inject.py"] == (st.st_dev, st.st_ino) and oct(here.stat().st_mode & 0o777) == "0o755"
    container.remove(container.root_of(pid), folder, NOBODY)
    assert not here.exists()


def test_place_into_a_root_folder_is_refused_for_the_targets_user(contained, tmp_path):
    """W2: the target's /tmp is root's 0755: nothing is made there for it. The
    control: root doing the old sequence (mkdir, fchown) makes a folder of the
    target's inside root's."""
    pid, root = contained
    (root / "tmp").chmod(0o755)
    folder = container.new_folder()
    with pytest.raises(container.ContainerError, match=r"as uid 65534: Permission denied"):
        container.place(container.root_of(pid), folder, _shim_source(tmp_path), owner=NOBODY)
    assert list((root / "tmp").iterdir()) == []
    with rootfs.held(container.root_of(pid)) as fd:
        tmp = rootfs.open_in(fd, "/tmp", os.O_PATH | os.O_DIRECTORY)
        os.mkdir("old", 0o700, dir_fd=tmp)
        os.chown("old", *NOBODY, dir_fd=tmp)
        os.close(tmp)
    assert os.stat(root / "tmp" / "old").st_uid == NOBODY[0]


@pytest.fixture
def victim(tmp_path):
    """A root-owned folder of root-owned 0644 files, and a second copy for the control."""
    made = []
    for name in ("victim", "victim2"):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(3):
            (folder / f"keep{i}").write_text(f"root's file {i}\n")
            (folder / f"keep{i}").chmod(0o644)
        made.append(folder)
    return made


@pytest.mark.parametrize("owner", [NOBODY, (0, 0)], ids=["as-target", "as-root"])
def test_remove_never_enters_a_mount_the_target_put_in_its_folder(contained, tmp_path, victim, owner):
    """W1: a root folder bind-mounted inside the placed folder is left whole
    (as the target's user, and as root for a root target: never across a
    mount point); the control: the old rmtree(dir_fd=) as root deletes it."""
    pid, root = contained
    (root / "tmp").chmod(0o1777)
    mounts = []
    try:
        for folder_owner, victim_dir, old in ((owner, victim[0], False), ((0, 0), victim[1], True)):
            folder = container.new_folder()
            container.place(container.root_of(pid), folder, _shim_source(tmp_path), owner=folder_owner)
            pwn = root / folder.lstrip("/") / "pwn"
            pwn.mkdir()
            subprocess.run(["mount", "--bind", str(victim_dir), str(pwn)], check=True)
            mounts.append(pwn)
            if old:
                import shutil
                with rootfs.held(container.root_of(pid)) as fd:
                    tmp = rootfs.open_in(fd, "/tmp", os.O_PATH | os.O_DIRECTORY)
                    with pytest.raises(OSError):     # the mount point itself is busy; its files went first
                        shutil.rmtree(folder.rsplit("/", 1)[1], dir_fd=tmp)
                    os.close(tmp)
                assert list(victim_dir.iterdir()) == []
            else:
                container.remove(container.root_of(pid), folder, owner)
                assert sorted(p.name for p in victim_dir.iterdir()) == ["keep0", "keep1", "keep2"]
                assert (root / folder.lstrip("/") / "pwn").is_dir()
    finally:
        for pwn in mounts:
            subprocess.run(["umount", "-l", str(pwn)])


def test_copy_out_as_the_targets_user_refuses_what_it_cannot_read(contained, tmp_path):
    """W3: a root-only header in the container: refused in one line as the
    target's user, nothing of it copied; the control: as root it comes out."""
    pid, root = contained
    inc = root / "usr" / "include" / "python3.11"
    inc.mkdir(parents=True)
    (inc / "Python.h").write_text("/* public */\n")
    (inc / "secret.h").write_text("TOPSECRET\n")
    (inc / "secret.h").chmod(0o600)
    for mine, ids in ((tmp_path / "as-target", NOBODY), (tmp_path / "as-root", None)):
        mine.mkdir()
        if ids:
            with pytest.raises(container.ContainerError, match=r"as uid 65534: Permission denied"):
                container.copy_out(container.root_of(pid), ["/usr/include/python3.11"], mine, ids=ids)
            assert not any(mine.rglob("*"))
        else:
            container.copy_out(container.root_of(pid), ["/usr/include/python3.11"], mine, ids=ids)
            assert (mine / "usr/include/python3.11/secret.h").read_text() == "TOPSECRET\n"
    (inc / "secret.h").unlink()                     # what the target may read comes out as the target
    got = tmp_path / "readable"
    got.mkdir()
    assert container.copy_out(container.root_of(pid), ["/usr/include/python3.11"], got, ids=NOBODY) == 1
    assert (got / "usr/include/python3.11/Python.h").read_text() == "/* public */\n"


def test_a_copys_reply_is_checked():
    bounds = rootfs.Bounds()
    entries = [("usr/include", None), ("usr/include/a.h", b"x")]
    good = container.pack(rootfs.Copied(1, 1, 0), entries)
    assert container.unpack(good, bounds) == (rootfs.Copied(1, 1, 0), entries)
    for bad in (good[:-1], good + b"x", container.pack(rootfs.Copied(1, 1, 0), [("usr/../etc/a.h", b"x")]),
                container.pack(rootfs.Copied(1, 1, 0), [("/etc/a.h", b"x")]),
                container.pack(rootfs.Copied(2, 1, 0), entries)):
        with pytest.raises(ValueError):
            container.unpack(bad, bounds)


def test_the_cache_key_tells_every_header_tree_apart():
    """Each name and content length-prefixed; the control: the old stream
    (name NUL content, one after another) is the same for these two trees."""
    import hashlib

    from scope.probes.shim import inputs_digest
    one, two = {"a": b"x", "b": b"y"}, {"a": b"xb\0y"}

    def old(headers):
        digest = hashlib.sha256(b".so")
        for rel in sorted(headers):
            digest.update(rel.encode() + b"\0" + headers[rel])
        return digest.hexdigest()
    assert old(one) == old(two)
    assert inputs_digest(".so", {}, one) != inputs_digest(".so", {}, two)
    assert inputs_digest(".so", one, {}) != inputs_digest(".so", {}, one)


def test_the_bounds_hold_in_the_targets_users_child_too(contained, tmp_path):
    """A FIFO or an oversize header refuses the copy with the same line when
    the copy runs as the target's user (the child's error comes back whole)."""
    pid, root = contained
    inc = root / "usr" / "include" / "python3.11"
    inc.mkdir(parents=True)
    os.mkfifo(inc / "fifo.h", 0o644)
    with pytest.raises(rootfs.NotRegular, match=r"/usr/include/python3.11/fifo.h of /proc/\d+/root is a FIFO"):
        container.copy_out(container.root_of(pid), ["/usr/include/python3.11"], tmp_path / "a", ids=NOBODY)
    (inc / "fifo.h").unlink()
    with open(inc / "big.h", "wb") as fh:
        fh.truncate(1 << 30)
    with pytest.raises(rootfs.TooLarge, match="is 1024 MiB"):
        container.copy_out(container.root_of(pid), ["/usr/include/python3.11"], tmp_path / "b", ids=NOBODY)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_child_is_the_user_and_is_bounded():
    """What the child runs as (no groups, no capabilities, not dumpable), and
    a child past its time or its size ends in one error, killed."""
    import json

    from scope.probes import asuser

    def whoami() -> bytes:
        status = Path("/proc/self/status").read_text()
        caps = [ln.split()[1] for ln in status.splitlines() if ln.startswith("CapEff")]
        import ctypes
        dumpable = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)          # PR_GET_DUMPABLE
        return json.dumps([os.getresuid(), os.getresgid(), os.getgroups(), caps, dumpable]).encode()
    said = json.loads(asuser.as_user(NOBODY, whoami))
    assert said == [[65534] * 3, [65534] * 3, [], ["0000000000000000"], 0]
    with pytest.raises(asuser.AsUserError, match="no whole answer within 0.5 s"):
        asuser.as_user(NOBODY, lambda: time.sleep(30) or b"", timeout=0.5)
    with pytest.raises(asuser.AsUserError, match="no whole answer"):
        asuser.as_user(NOBODY, lambda: bytes(4096), limit=1024)
    with pytest.raises(PermissionError):
        asuser.as_user(NOBODY, lambda: Path("/etc/shadow").read_bytes())
    assert asuser.as_user(NOBODY, lambda: b"ok") == b"ok"
