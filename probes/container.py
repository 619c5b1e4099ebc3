"""Files inside a target's own root (a container), handled without trusting it.

A path walked from the host through ``/proc/PID/root`` follows the container's
absolute symlinks out to the host's files — as root; a root process chrooted
into the container's root would load the container's NSS modules as soon as
anything asks for a user's name (sudo's CVE-2025-32463). So scope does neither:
every path inside the root is resolved by the kernel, confined to it, from the
host side (probes/rootfs.py: openat2 with RESOLVE_IN_ROOT), and everything
written there is made with descriptors of the folder scope just created
(``mkdirat``/``openat`` with ``O_EXCL | O_NOFOLLOW``, never across a mount
point). No process enters the root and nothing of it runs. For a target whose
user is not root, the reading, the writing and the removing are done by a
child that is that user (probes/asuser.py): what it could not read, write or
delete itself — a root-only file or folder it mounted or linked in — scope
does not either.

Used by ``--inject`` into a container and ``scope run -- chroot DIR``: the
target's Python headers come out (the shim is compiled on the host, see
probes/shim.py), the built shim goes into a private folder of the root's /tmp,
and is removed after detach.
"""
from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
import struct
from pathlib import Path

from ..errors import ScopeError
from ..text import shown
from . import rootfs
from .asuser import as_user, close_inherited, host_ids, needs_child, read_reply

__all__ = ["ContainerError", "close_inherited", "copy_out", "host_ids", "new_folder", "place", "read_reply",
           "remove", "root_of"]


class ContainerError(ScopeError):
    fix = "attach without --inject: the interpreter's own markers (calls on CPython 3.11 and 3.15)"


def root_of(pid: int) -> str:
    """Process ``pid``'s root folder, as a path scope can open."""
    return f"/proc/{pid}/root"


# the copy's reply: its counts, then each entry (kind, path length, data length, path, data)
_HEAD, _ENTRY = struct.Struct(">QQQI"), struct.Struct(">BIQ")
MAX_PATH = 4096
FRAMING = (rootfs.Bounds().files + 2) * (_ENTRY.size + MAX_PATH) + _HEAD.size   # bytes past the files'


def copy_out(root: str, folders: list[str], dest: Path, *, ids: tuple[int, int] | None = None) -> int:
    """Copy the regular files of ``folders`` of ``root`` (``root_of(pid)``, a
    folder a command runs chrooted in, or "/") into ``dest`` (same relative
    paths), from the host side, bounded (probes/rootfs.py: each folder and
    symlink resolved inside the root; links inside the folders left out; a
    FIFO, device or file past the bounds refuses the copy with one line).
    ``ids`` (uid, gid): whose files these are to read — the target's user;
    when not root's, the files are read by a child that is that user (no
    groups: probes/asuser.py), so a file or folder that user could not read
    (a root-only file mounted or linked in) is refused, never copied.
    Returns how many files came."""
    bounds = rootfs.Bounds()
    whom = f" as uid {ids[0]}" if needs_child(ids) else ""
    try:
        with rootfs.held(root) as fd:
            if needs_child(ids):
                reply = as_user(ids, lambda: pack(*rootfs.collect_tree(fd, folders, bounds, root=root)),
                                keep=(fd,), timeout=bounds.seconds + 5, limit=bounds.total_bytes + FRAMING,
                                what=f"copying headers out of {shown(root)}")
                copied, entries = unpack(reply, bounds)
            else:
                copied, entries = rootfs.collect_tree(fd, folders, bounds, root=root)
        rootfs.write_entries(dest, entries)
        return copied.files
    except rootfs.RootfsError:
        raise
    except ValueError:
        raise ContainerError(f"the copy of {shown(', '.join(folders))} out of {shown(root)}{whom} came back "
                             "malformed") from None
    except OSError as exc:
        raise ContainerError(f"cannot copy {shown(', '.join(folders))} out of {shown(root)}{whom}: "
                             f"{shown(exc.strerror or str(exc))}") from None


def pack(copied: rootfs.Copied, entries: list[rootfs.Entry]) -> bytes:
    """``collect_tree``'s answer as bytes (``unpack`` reads them)."""
    parts = [_HEAD.pack(copied.files, copied.bytes, copied.links, len(entries))]
    for rel, data in entries:
        raw = os.fsencode(rel)
        parts += [_ENTRY.pack(data is not None, len(raw), len(data or b"")), raw, data or b""]
    return b"".join(parts)


def unpack(data: bytes, bounds: rootfs.Bounds) -> tuple[rootfs.Copied, list[rootfs.Entry]]:
    """``pack``'s bytes, checked against ``bounds`` (ValueError: malformed):
    paths relative, without ``.``, ``..`` or empty parts."""
    view, at = memoryview(data), 0

    def take(size: int) -> bytes:
        nonlocal at
        if at + size > len(view):
            raise ValueError("short")
        at += size
        return bytes(view[at - size:at])

    files, size, links, count = _HEAD.unpack(take(_HEAD.size))
    if count > bounds.files + 2:
        raise ValueError("too many entries")
    entries, total, seen = [], 0, 0
    for _ in range(count):
        kind, path_len, data_len = _ENTRY.unpack(take(_ENTRY.size))
        if kind > 1 or path_len > MAX_PATH or data_len > bounds.file_bytes or (kind == 0 and data_len):
            raise ValueError("bad entry")
        rel = os.fsdecode(take(path_len))
        if any(p in ("", ".", "..") or "\0" in p for p in rel.split("/")):
            raise ValueError("bad path")
        body = take(data_len) if kind else None
        total, seen = total + data_len, seen + kind
        entries.append((rel, body))
    if at != len(view) or total > bounds.total_bytes or (seen, total) != (files, size):
        raise ValueError("inconsistent")
    return rootfs.Copied(files, size, links), entries


_OURS = re.compile(r"/tmp/scope-shim-[0-9a-f]{16}")


def new_folder() -> str:
    """A fresh name for ``place`` (in the target's /tmp)."""
    return f"/tmp/scope-shim-{secrets.token_hex(8)}"


def place(root: str, folder: str, source: Path, extra: dict[str, str] | None = None,
          owner: tuple[int, int] = (0, 0)) -> dict[str, tuple[int, int]]:
    """Copy the folder ``source`` (scope's own files), and ``extra`` (relative
    path -> text), into the new folder ``folder`` of ``root`` (see
    ``new_folder``) for ``owner`` (uid, gid: the target's user as the host sees
    it, which then may remove it); returns each file's identity there (device,
    inode). Not root's: all of it done by a child that is that user
    (probes/asuser.py), so the files are born its own and the kernel refuses
    what it could not do itself (a folder of root's mounted on its /tmp)."""
    if not _OURS.fullmatch(folder):
        raise ValueError(f"not a folder of new_folder(): {folder!r}")
    files = {}
    for path in sorted(source.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(source))] = (path.read_bytes(), 0o644)
    for rel, text in (extra or {}).items():
        files[rel] = (text.encode(), 0o644)
    parent, name = os.path.split(folder)
    where = f"{folder} of {shown(root)}"
    try:
        with rootfs.held(root) as root_fd:
            if not needs_child(owner):
                return _place_in(root_fd, parent, name, files, owner, where)
            reply = as_user(owner, lambda: json.dumps(_place_in(root_fd, parent, name, files, owner, where)).encode(),
                            keep=(root_fd,), timeout=60, limit=1 << 20, errors={"ContainerError": ContainerError},
                            what=f"writing {where}")
            return _identities(reply, files)
    except FileExistsError:
        raise ContainerError(f"{where} exists already (scope puts its files in a new folder only)",
                             "attach again (a new name is drawn each time)") from None
    except OSError as exc:
        whom = f" as uid {owner[0]}" if needs_child(owner) else ""
        raise ContainerError(f"cannot write {where}{whom}: {shown(exc.strerror or str(exc))}") from None


def _identities(reply: bytes, files: dict) -> dict[str, tuple[int, int]]:
    """The child's answer to ``place``, checked: an identity for each file."""
    try:
        raw = json.loads(reply)
        ids = {rel: (int(raw[rel][0]), int(raw[rel][1])) for rel in files}
    except (ValueError, KeyError, TypeError, IndexError):
        raise ContainerError("the files scope placed were not all confirmed") from None
    return ids


def _place_in(root_fd: int, parent: str, name: str, files: dict[str, tuple[bytes, int]],
              owner: tuple[int, int], where: str) -> dict[str, tuple[int, int]]:
    tmp = rootfs.open_in(root_fd, parent, os.O_PATH | os.O_DIRECTORY)
    try:
        return _fill(tmp, name, files, owner, where)
    finally:
        os.close(tmp)


# a level of scope's own folder: one name, no link of any kind, never across a mount point
LEVEL = rootfs.ONE_NAME | rootfs.RESOLVE_NO_XDEV
DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _fill(tmp: int, name: str, files: dict[str, tuple[bytes, int]], owner: tuple[int, int],
          where: str) -> dict[str, tuple[int, int]]:
    """The new folder ``name`` of the folder ``tmp`` holding ``files``: this
    process's and closed (0700) while being filled, open (0755) last. Given to
    ``owner`` only when this process is root and ``owner`` is not (then
    ``owner``'s uid is root's: a container run as the host's root)."""
    os.mkdir(name, 0o700, dir_fd=tmp)      # fails on anything already there, a symlink included
    top = rootfs.openat2(tmp, name, DIR, LEVEL)
    chown = owner if os.geteuid() == 0 and owner != (os.geteuid(), os.getegid()) else None
    try:
        st = os.fstat(top)
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o700:
            raise ContainerError(f"{where} was replaced while scope made it")
        ids, dirs = {}, {"": top}
        try:
            for rel, (data, mode) in files.items():
                ids[rel] = _write(_folder_of(dirs, os.path.dirname(rel), chown), os.path.basename(rel),
                                  data, mode, chown)
        finally:
            for sub, fd in dirs.items():
                if sub:
                    os.close(fd)
        if chown is not None:
            os.fchown(top, *chown)
        os.fchmod(top, 0o755)               # complete: the target may read it now
        return ids
    finally:
        os.close(top)


def _folder_of(dirs: dict[str, int], rel: str, chown: tuple[int, int] | None) -> int:
    """The descriptor of the folder ``rel`` inside the new folder, made if new."""
    if rel in dirs:
        return dirs[rel]
    parent = _folder_of(dirs, os.path.dirname(rel), chown)
    name = os.path.basename(rel)
    os.mkdir(name, 0o755, dir_fd=parent)
    fd = rootfs.openat2(parent, name, DIR, LEVEL)
    if chown is not None:
        os.fchown(fd, *chown)
    dirs[rel] = fd
    return fd


def _write(folder: int, name: str, data: bytes, mode: int, chown: tuple[int, int] | None) -> tuple[int, int]:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                 dir_fd=folder)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode)
        if chown is not None:
            os.fchown(fd, *chown)
        st = os.fstat(fd)
        return st.st_dev, st.st_ino
    finally:
        os.close(fd)


REMOVE_NAMES, REMOVE_DEPTH = 4096, 16     # what a removal walks at most


def remove(root: str, folder: str, owner: tuple[int, int] = (0, 0)) -> None:
    """Remove a folder ``place`` made for ``owner`` (a target may have gone:
    then so has its root), as ``owner`` when not root's (probes/asuser.py).
    The target owns it by then: each level is opened by descriptor without
    following any link and never across a mount point (one the target put
    there is left, unentered), at most 4096 names, 16 deep."""
    if not _OURS.fullmatch(folder):
        return
    parent, name = os.path.split(folder)
    try:
        with rootfs.held(root) as root_fd:
            if needs_child(owner):
                as_user(owner, lambda: _remove_in(root_fd, parent, name), keep=(root_fd,), timeout=30,
                        limit=1 << 10, what=f"removing {folder}")
            else:
                _remove_in(root_fd, parent, name)
    except (OSError, ScopeError):
        pass


def _remove_in(root_fd: int, parent: str, name: str) -> bytes:
    tmp = rootfs.open_in(root_fd, parent, os.O_PATH | os.O_DIRECTORY)
    try:
        _remove_tree(tmp, name, 0, [REMOVE_NAMES])
    finally:
        os.close(tmp)
    return b""


def _remove_tree(parent: int, name: str, depth: int, left: list[int]) -> None:
    """Remove the folder ``name`` of ``parent`` and what it holds, by
    descriptors; a link or file is unlinked, never followed; a mount point
    (EXDEV) or anything past the bounds is left as it is."""
    try:
        fd = rootfs.openat2(parent, name, DIR, LEVEL)
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):     # a file or a link: the name goes, nothing followed
            _quietly(os.unlink, name, dir_fd=parent)
        return                                            # EXDEV: a mount point, never entered
    try:
        with os.scandir(fd) as it:
            names = [entry.name for _, entry in zip(range(left[0] + 1), it)]
        for inner in names:
            left[0] -= 1
            if left[0] < 0:
                return
            if depth < REMOVE_DEPTH and _is_dir(fd, inner):
                _remove_tree(fd, inner, depth + 1, left)
            else:
                _quietly(os.unlink, inner, dir_fd=fd)
    finally:
        os.close(fd)
    _quietly(os.rmdir, name, dir_fd=parent)


def _is_dir(fd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _quietly(call, *args, **kwargs) -> None:
    try:
        call(*args, **kwargs)
    except OSError:
        pass
