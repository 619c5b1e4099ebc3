"""Files inside a target's own root (probes/container.py): every path resolves
inside that root, the container's absolute symlinks included — never on the
host, where scope is root. The "container" here: a process chrooted into a
temporary folder, which holds symlinks pointing at the host's /etc."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from scope.probes import container

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
    with pytest.raises(container.ContainerError, match="FileExistsError"):
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
