"""Files inside a root scope does not own — a container's (``/proc/PID/root``)
or a folder a command runs chrooted in — reached from the host side.

Walking such a path from the host follows the root's absolute symlinks out to
the host's files, as root; entering the root instead (chroot) lets glibc load
the root's NSS modules into a root process (the pattern of sudo's
CVE-2025-32463). So neither: the kernel resolves every path with
``openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`` relative to a descriptor
of the root, so its symlinks and ``..`` stay inside it. A file is opened
``O_PATH`` first (opening a device or a FIFO has effects; this has none),
checked with fstat — regular files only, under a size bound — and only then
opened for reading, non-blocking. Nothing of the root runs, and no user or
group name is looked up. Copies are bounded in bytes per file and in all,
in files, depth and time. Linux before 5.6 has no openat2: refused
(``NoOpenat2``), never served by walking paths.
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import ScopeError
from ..text import shown

_NR_OPENAT2 = {"x86_64": 437, "aarch64": 437}
RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS = 0x01, 0x02, 0x04
RESOLVE_BENEATH, RESOLVE_IN_ROOT = 0x08, 0x10
IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
# one name inside a folder already reached: no link of any kind, nothing above it
ONE_NAME = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
MAX_HOPS = 40          # symlinks followed in one name (the kernel's own bound)

_LESS = "record without the shim (attach --no-inject, run --no-shim: the interpreter's own markers)"


class RootfsError(ScopeError):
    """A file inside another root that scope will not read."""
    fix = _LESS


class NoOpenat2(RootfsError):
    fix = f"run scope on Linux 5.6 or newer (x86_64 or aarch64), or {_LESS}"


class NotRegular(RootfsError):
    fix = f"only regular files are read there: put the file itself in the image, or {_LESS}"


class TooLarge(RootfsError):
    fix = f"the files scope reads inside another root are bounded: {_LESS}"


class TooMany(RootfsError):
    fix = f"the files scope reads inside another root are bounded: {_LESS}"


class TooSlow(RootfsError):
    fix = f"a file system inside the root may be stalling: {_LESS}"


@dataclass(frozen=True)
class Bounds:
    """What one copy out of a root may cost."""
    file_bytes: int = 8 << 20      # one file (CPython's largest header: ~0.2 MiB)
    total_bytes: int = 64 << 20    # all of them
    files: int = 4096              # files and folders seen
    depth: int = 16                # folders inside the copied one
    seconds: float = 30.0


@dataclass
class Copied:
    """What a copy brought: files, bytes, and the symbolic links left out."""
    files: int = 0
    bytes: int = 0
    links: int = 0


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(dir_fd: int, raw: bytes, how: _OpenHow) -> tuple[int, int]:
    """openat2 itself: (fd or -1, errno)."""
    nr = _NR_OPENAT2.get(platform.machine())
    if nr is None:
        return -1, errno.ENOSYS
    fd = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(dir_fd), ctypes.c_char_p(raw), ctypes.byref(how),
                       ctypes.c_size_t(ctypes.sizeof(how)))
    return fd, ctypes.get_errno() if fd < 0 else 0


def prctl(option: int, value: int) -> None:
    """prctl(2) with one argument (OSError on failure)."""
    if _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                   ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """A new descriptor (close-on-exec) for ``path`` resolved from ``dir_fd``
    as ``resolve`` says; OSError as open's, NoOpenat2 without the call."""
    raw = os.fsencode(path)
    if b"\0" in raw:       # C would read it as a shorter name
        raise FileNotFoundError(errno.ENOENT, "a name holding a NUL byte", shown(os.fsdecode(raw)))
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    for _ in range(16):    # EAGAIN: a rename raced a ".." inside the root (the kernel asks to retry)
        fd, err = _syscall(dir_fd, raw, how)
        if fd >= 0:
            return fd
        if err not in (errno.EAGAIN, errno.EINTR):
            break
    if err == errno.ENOSYS:
        raise NoOpenat2(f"this kernel ({platform.release()}, {platform.machine()}) has no openat2, which "
                        "scope needs to read files inside another root without leaving it")
    raise OSError(err, os.strerror(err), path)


@contextmanager
def held(root: str) -> Iterator[int]:
    """A descriptor of the folder ``root`` (``/proc/PID/root``, or a folder a
    command runs chrooted in), closed afterwards."""
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def open_in(root_fd: int, path: str, flags: int = os.O_PATH) -> int:
    """``path`` opened inside the root ``root_fd`` (absolute or not: from the root)."""
    return openat2(root_fd, path, flags, IN_ROOT)


def kind(mode: int) -> str:
    """What a file of ``mode`` is, in words."""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a file"


def _where(path: str, root: str) -> str:
    return f"{shown(path)} of {shown(root)}" if root else shown(path)


def open_regular(dir_fd: int, path: str, limit: int, *, resolve: int = IN_ROOT, flags: int = 0,
                 where: str = "") -> tuple[int, os.stat_result]:
    """``path`` open for reading (non-blocking), and its status, provided it is
    a regular file of at most ``limit`` bytes (NotRegular, TooLarge: nothing
    was opened for reading). ``where``: the file's name in messages."""
    pfd = openat2(dir_fd, path, os.O_PATH | flags, resolve)
    where = where or shown(path)
    try:
        st = os.fstat(pfd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(f"{where} is {kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise TooLarge(f"{where} is {st.st_size >> 20} MiB ({st.st_size} bytes); scope reads "
                           f"at most {limit} bytes of one file there")
        # the very inode checked: reopened through this process's own descriptor
        return os.open(f"/proc/self/fd/{pfd}", READ), st
    finally:
        os.close(pfd)


def _read_bounded(fd: int, limit: int, where: str, deadline: float | None = None) -> bytes:
    """At most ``limit`` bytes of ``fd`` (TooLarge past it: the file grew)."""
    parts, size = [], 0
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            raise TooSlow(f"reading {where} took longer than scope allows")
        part = os.read(fd, min(1 << 20, limit + 1 - size))
        if not part:
            return b"".join(parts)
        parts.append(part)
        size += len(part)
        if size > limit:
            raise TooLarge(f"{where} is larger than the {limit} bytes scope reads of one file there")


def read_file(root_fd: int, path: str, limit: int, *, root: str = "") -> bytes:
    """The whole regular file ``path`` of the root ``root_fd``, at most ``limit`` bytes."""
    fd, _ = open_regular(root_fd, path, limit, where=_where(path, root))
    try:
        return _read_bounded(fd, limit, _where(path, root))
    finally:
        os.close(fd)


def head(root_fd: int, path: str, size: int, *, root: str = "") -> bytes:
    """The first ``size`` bytes of the regular file ``path`` of the root (any length)."""
    fd, _ = open_regular(root_fd, path, 1 << 62, where=_where(path, root))
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def listdir(root_fd: int, path: str, limit: int = 4096, *, root: str = "") -> list[str]:
    """The names in the folder ``path`` of the root (TooMany past ``limit``)."""
    fd = open_in(root_fd, path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return _names(fd, limit, _where(path, root))
    finally:
        os.close(fd)


def _names(fd: int, limit: int, where: str) -> list[str]:
    names = []
    with os.scandir(fd) as it:
        for entry in it:
            if len(names) >= limit:
                raise TooMany(f"{where} holds more than {limit} names")
            names.append(entry.name)
    return names


def realpath(root_fd: int, path: str, hops: int = MAX_HOPS) -> str:
    """``path`` with every symlink followed inside the root (read, never
    walked on the host), as the root names it: absolute, no ``.``/``..``."""
    todo, done = [p for p in path.split("/") if p][::-1], []
    while todo:
        name = todo.pop()
        if name == ".":
            continue
        if name == "..":
            if done:
                done.pop()
            continue
        fd = open_in(root_fd, "/" + "/".join(done), os.O_PATH | os.O_DIRECTORY)
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                hops -= 1
                if hops < 0:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                link = os.readlink(name, dir_fd=fd)
                if link.startswith("/"):
                    done = []
                todo.extend(p for p in link.split("/")[::-1] if p)
                continue
        finally:
            os.close(fd)
        done.append(name)
    return "/" + "/".join(done)


def identity(root_fd: int, path: str) -> tuple[int, int]:
    """(device, inode) of the file ``path`` of the root names."""
    fd = open_in(root_fd, path)
    try:
        st = os.fstat(fd)
        return st.st_dev, st.st_ino
    finally:
        os.close(fd)


def find_program(root_fd: int, name: str, search: str) -> str | None:
    """Where the root's ``execvp`` would find ``name`` (``search``: the PATH;
    a name with a slash is itself), if it is an executable regular file there."""
    candidates = [name] if "/" in name else [f"{d or '.'}/{name}" for d in search.split(":")]
    for path in candidates:
        try:
            fd = open_in(root_fd, path if path.startswith("/") else "/" + path)
        except (OSError, ValueError):
            continue
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return path if path.startswith("/") else "/" + path
    return None


class _Budget:
    """What is left of a copy's Bounds."""

    def __init__(self, bounds: Bounds, root: str) -> None:
        self.bounds, self.root = bounds, root
        self.deadline = time.monotonic() + bounds.seconds
        self.seen = 0
        self.copied = Copied()
        self.entries: list[Entry] = []

    def step(self, where: str) -> None:
        """One more file or folder: within count and time, or refused."""
        self.seen += 1
        if self.seen > self.bounds.files:
            raise TooMany(f"{shown(self.root)} holds more than {self.bounds.files} files where scope copies "
                          "from (it stops there)")
        if time.monotonic() >= self.deadline:
            raise TooSlow(f"copying from {shown(self.root)} took longer than {self.bounds.seconds:g} s "
                          f"(at {where})")

    def add(self, size: int, where: str) -> None:
        self.copied.bytes += size
        if self.copied.bytes > self.bounds.total_bytes:
            raise TooLarge(f"the files to copy from {shown(self.root)} pass {self.bounds.total_bytes >> 20} MiB "
                           f"in all (at {where})")


def copy_tree(root_fd: int, folders: list[str], dest: Path, bounds: Bounds = Bounds(), *,
              root: str = "") -> Copied:
    """The regular files of ``folders`` of the root ``root_fd`` (each resolved
    inside it, a symlinked folder included) into ``dest`` under the same
    relative paths. Symbolic links inside are left out (counted); a FIFO, a
    device, a socket, a file past the bounds refuse the whole copy."""
    copied, entries = collect_tree(root_fd, folders, bounds, root=root)
    write_entries(dest, entries)
    return copied


Entry = tuple[str, "bytes | None"]      # a relative path and a file's bytes (None: a folder)


def collect_tree(root_fd: int, folders: list[str], bounds: Bounds = Bounds(), *,
                 root: str = "") -> tuple[Copied, list[Entry]]:
    """What ``copy_tree`` copies, in memory (at most ``bounds.total_bytes``):
    each folder and file by its path relative to the root, in order."""
    budget = _Budget(bounds, root)
    for folder in folders:
        try:
            fd = open_in(root_fd, folder, os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            _copy_folder(fd, "/".join(p for p in folder.split("/") if p), budget, 0)
        finally:
            os.close(fd)
    return budget.copied, budget.entries


def write_entries(dest: Path, entries: list[Entry]) -> None:
    """``entries`` (``collect_tree``'s, checked: relative, no ``.``/``..``)
    written as new files and folders (0700) of ``dest``, scope's own folder."""
    for rel, data in entries:
        out = dest.joinpath(*rel.split("/"))
        if data is None:
            out.mkdir(parents=True, exist_ok=True, mode=0o700)
            continue
        out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(out, "xb") as fh:      # a new file
            fh.write(data)


def _copy_folder(fd: int, rel: str, budget: _Budget, depth: int) -> None:
    where = _where("/" + rel, budget.root)
    if depth > budget.bounds.depth:
        raise TooMany(f"{where} lies more than {budget.bounds.depth} folders deep; scope stops there")
    budget.entries.append((rel, None))
    for name in sorted(_names(fd, budget.bounds.files, where)):
        inner = f"{rel}/{name}"
        budget.step(_where("/" + inner, budget.root))
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            budget.copied.links += 1
            continue
        if stat.S_ISDIR(st.st_mode):
            sub = openat2(fd, name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, ONE_NAME)
            try:
                _copy_folder(sub, inner, budget, depth + 1)
            finally:
                os.close(sub)
            continue
        _copy_file(fd, name, inner, budget)


def _copy_file(fd: int, name: str, rel: str, budget: _Budget) -> None:
    where = _where("/" + rel, budget.root)
    src, _ = open_regular(fd, name, budget.bounds.file_bytes, resolve=ONE_NAME, flags=os.O_NOFOLLOW,
                          where=where)
    try:
        data = _read_bounded(src, budget.bounds.file_bytes, where, budget.deadline)
    finally:
        os.close(src)
    budget.add(len(data), where)
    budget.entries.append((rel, data))
    budget.copied.files += 1
