"""Files inside a target's own root (a container), handled without trusting it.

A path walked from the host through ``/proc/PID/root`` follows the container's
absolute symlinks out to the host's files — as root; a root process chrooted
into the container's root would load the container's NSS modules as soon as
anything asks for a user's name (sudo's CVE-2025-32463). So scope does neither:
every path inside the root is resolved by the kernel, confined to it, from the
host side (probes/rootfs.py: openat2 with RESOLVE_IN_ROOT), and everything
written there is made with descriptors of the folder scope just created
(``mkdirat``/``openat`` with ``O_EXCL | O_NOFOLLOW``, ``fchown``). No process
enters the root and nothing of it runs.

Used by ``--inject`` into a container and ``scope run -- chroot DIR``: the
target's Python headers come out (the shim is compiled on the host, see
probes/shim.py), the built shim goes into a private folder of the root's /tmp,
and is removed after detach.
"""
from __future__ import annotations

import os
import re
import secrets
import select
import shutil
import signal
import stat
import time
from pathlib import Path

from ..errors import ScopeError
from . import rootfs


class ContainerError(ScopeError):
    fix = "attach without --inject: the interpreter's own markers (calls on CPython 3.11 and 3.15)"


def root_of(pid: int) -> str:
    """Process ``pid``'s root folder, as a path scope can open."""
    return f"/proc/{pid}/root"


def close_inherited(keep: tuple[int, ...]) -> None:
    """In a child forked from the collector: close every descriptor but `keep`
    (and stdin/out/err) first thing. It inherits the probes' perf-event and
    link descriptors, and while it holds them a probe scope detaches stays
    attached (seen: calls recorded inside a --max-overhead pause)."""
    low = 3
    for fd in sorted(k for k in keep if k >= 3) + [1 << 20]:
        os.closerange(low, min(fd, os.sysconf("SC_OPEN_MAX")))
        low = fd + 1


def read_reply(src, child: int, timeout: float, limit: int = 64 << 20) -> bytes:
    """The child's whole reply; b"" (and the child killed) past `timeout`
    seconds or `limit` bytes."""
    deadline, parts, size = time.monotonic() + timeout, [], 0
    while True:
        ready, _, _ = select.select([src], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            os.kill(child, signal.SIGKILL)
            return b""
        part = os.read(src.fileno(), 1 << 16)
        if not part:
            return b"".join(parts)
        parts.append(part)
        size += len(part)
        if size > limit:
            os.kill(child, signal.SIGKILL)
            return b""




def copy_out(root: str, folders: list[str], dest: Path) -> int:
    """Copy the regular files of ``folders`` of ``root`` (``root_of(pid)``, a
    folder a command runs chrooted in, or "/") into ``dest`` (same relative
    paths), from the host side, bounded (probes/rootfs.py: each folder and
    symlink resolved inside the root; links inside the folders left out; a
    FIFO, device or file past the bounds refuses the copy with one line).
    Returns how many files came."""
    try:
        with rootfs.held(root) as fd:
            return rootfs.copy_tree(fd, folders, dest, root=root).files
    except rootfs.RootfsError:
        raise
    except OSError as exc:
        raise ContainerError(f"cannot copy {', '.join(folders)} out of {root}: "
                             f"{exc.strerror or exc}") from None


_OURS = re.compile(r"/tmp/scope-shim-[0-9a-f]{16}")


def new_folder() -> str:
    """A fresh name for ``place`` (in the target's /tmp)."""
    return f"/tmp/scope-shim-{secrets.token_hex(8)}"


def place(root: str, folder: str, source: Path, extra: dict[str, str] | None = None,
          owner: tuple[int, int] = (0, 0)) -> dict[str, tuple[int, int]]:
    """Copy the folder ``source`` (scope's own files), and ``extra`` (relative
    path -> text), into the new folder ``folder`` of ``root`` (see
    ``new_folder``), owned by ``owner`` (uid, gid: a target's user, which then
    may remove it); returns each file's identity there (device, inode)."""
    if not _OURS.fullmatch(folder):
        raise ValueError(f"not a folder of new_folder(): {folder!r}")
    files = {}
    for path in sorted(source.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(source))] = (path.read_bytes(), 0o644)
    for rel, text in (extra or {}).items():
        files[rel] = (text.encode(), 0o644)
    parent, name = os.path.split(folder)
    try:
        with rootfs.held(root) as root_fd:
            tmp = rootfs.open_in(root_fd, parent, os.O_PATH | os.O_DIRECTORY)
            try:
                return _fill(tmp, name, files, owner, f"{folder} of {root}")
            finally:
                os.close(tmp)
    except FileExistsError:
        raise ContainerError(f"{folder} of {root} exists already (scope puts its files in a new folder only)",
                             "attach again (a new name is drawn each time)") from None
    except OSError as exc:
        raise ContainerError(f"cannot write {folder} into {root}: {exc.strerror or exc}") from None


def _fill(tmp: int, name: str, files: dict[str, tuple[bytes, int]], owner: tuple[int, int],
          where: str) -> dict[str, tuple[int, int]]:
    """The new folder ``name`` of the folder ``tmp`` holding ``files``: root's
    and closed (0700) while being filled, given to ``owner`` (0755) last."""
    os.mkdir(name, 0o700, dir_fd=tmp)      # fails on anything already there, a symlink included
    top = rootfs.openat2(tmp, name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, rootfs.ONE_NAME)
    try:
        st = os.fstat(top)
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o700:
            raise ContainerError(f"{where} was replaced while scope made it")
        ids, dirs = {}, {"": top}
        try:
            for rel, (data, mode) in files.items():
                ids[rel] = _write(_folder_of(dirs, os.path.dirname(rel), owner), os.path.basename(rel),
                                  data, mode, owner)
        finally:
            for sub, fd in dirs.items():
                if sub:
                    os.close(fd)
        os.fchown(top, *owner)
        os.fchmod(top, 0o755)               # complete: the target may read it now
        return ids
    finally:
        os.close(top)


def _folder_of(dirs: dict[str, int], rel: str, owner: tuple[int, int]) -> int:
    """The descriptor of the folder ``rel`` inside the new folder, made if new."""
    if rel in dirs:
        return dirs[rel]
    parent = _folder_of(dirs, os.path.dirname(rel), owner)
    name = os.path.basename(rel)
    os.mkdir(name, 0o755, dir_fd=parent)
    fd = rootfs.openat2(parent, name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, rootfs.ONE_NAME)
    os.fchown(fd, *owner)
    dirs[rel] = fd
    return fd


def _write(folder: int, name: str, data: bytes, mode: int, owner: tuple[int, int]) -> tuple[int, int]:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                 dir_fd=folder)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode)
        os.fchown(fd, *owner)
        st = os.fstat(fd)
        return st.st_dev, st.st_ino
    finally:
        os.close(fd)


def remove(root: str, folder: str) -> None:
    """Remove a folder ``place`` made (a target may have gone: then so has its
    root). The target owns it by then: nothing in it is followed."""
    if not _OURS.fullmatch(folder):
        return
    parent, name = os.path.split(folder)
    try:
        with rootfs.held(root) as root_fd:
            tmp = rootfs.open_in(root_fd, parent, os.O_PATH | os.O_DIRECTORY)
            try:
                shutil.rmtree(name, dir_fd=tmp)      # by descriptors: never through a symlink
            finally:
                os.close(tmp)
    except (OSError, rootfs.RootfsError, RecursionError):
        pass
