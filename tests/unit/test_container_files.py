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
