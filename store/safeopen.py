"""A recording folder is untrusted: every file in it is opened without following
a link, relative to the folder's descriptor.

A recording may have been written, copied or edited by anyone, and scope reads
(and compacts, prunes, recovers) it as root. A name in it that is a symbolic
link to a root-only file, or a `cold/` that is a link to another folder, would
otherwise have root read or write there. So:

- the recording folder itself is opened O_DIRECTORY|O_NOFOLLOW (a link is
  refused; the path leading to it is the user's own), and kept open;
- every subfolder (events/, cold/…/hour=HH/) is opened one component at a time,
  O_NOFOLLOW, relative to its parent's descriptor;
- every file is looked up O_PATH|O_NOFOLLOW relative to its folder's
  descriptor and must be a regular file (fstat) before anything opens it: a
  link, FIFO, device or folder under a file's name is refused with one line
  naming it (and a FIFO or device is never opened);
- pyarrow and DuckDB are given ``/proc/self/fd/N`` of the checked descriptor:
  that magic link is the opened inode itself, so nothing can be swapped in
  between the check and their read;
- files are written as a temporary name made O_CREAT|O_EXCL|O_NOFOLLOW in the
  folder's descriptor, fsynced, then renamed within that descriptor.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import RecordingError

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
JSON_MAX = 64 << 20          # session.json, catalog.json, rings.json: far above what scope writes
WALK_DEPTH = 16              # cold/TABLE/host=/date=/hour=/part: 5 deep; more is not scope's
FIX = ("scope reads only regular files inside a recording, never through a link: the folder was "
       "altered; record again, or give another folder")


class UnsafeEntry(RecordingError):
    """A name in a recording that is not what scope writes there (a link, a FIFO…)."""
    fix = FIX


_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder"))


def kind_of(mode: int) -> str:
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def owner_ids() -> tuple[int, int] | None:
    """(uid, gid) recordings should belong to, when running under sudo."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() == 0 and uid and gid and uid.isdigit() and gid.isdigit():
        return int(uid), int(gid)
    return None


def give_to_owner(path: Path | int) -> None:
    """Make the user who ran sudo own ``path`` (a path, not followed, or a
    descriptor); as root without sudo, nothing."""
    ids = owner_ids()
    if ids:
        if isinstance(path, int):
            os.fchown(path, *ids)
        else:
            os.chown(path, *ids, follow_symlinks=False)


def proc_path(fd: int) -> str:
    """A path naming exactly the inode ``fd`` holds (for pyarrow, DuckDB)."""
    return f"/proc/self/fd/{fd}"


def _parts(rel: str | Path) -> list[str]:
    parts = [p for p in str(rel).split("/") if p not in ("", ".")]
    if not parts or ".." in parts or str(rel).startswith("/"):
        raise UnsafeEntry(f"{str(rel)[:200]!r} is not a name inside the recording")
    return parts


class Folder:
    """An open folder of a recording: every name below it opened without
    following links. Closed by ``close()`` (or when collected)."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = Path(path)
        self._pins: dict[str, int] = {}

    @classmethod
    def open(cls, path: Path | str) -> Folder:
        """``path`` itself must be a folder, not a link to one."""
        path = Path(path)
        try:
            return cls(os.open(path, DIR_FLAGS), path)
        except OSError as exc:
            raise _refusal(path, exc, lambda: os.lstat(path), "a folder") from None

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        self.unpin()
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass

    # ------------------------------------------------------------- looking
    def _parent(self, rel, *, create: bool = False) -> tuple[Folder | None, str]:
        """(the folder holding ``rel``, opened; its last name). The folder is
        self (not to be closed: returned as None) when ``rel`` has one part."""
        parts = _parts(rel)
        if len(parts) == 1:
            return None, parts[0]
        return self.sub("/".join(parts[:-1]), create=create), parts[-1]

    def sub(self, rel, *, create: bool = False) -> Folder:
        """A subfolder, each component opened O_NOFOLLOW relative to the last;
        ``create``: made (0700, the sudo user's) where missing."""
        fd, path = os.dup(self.fd), self.path
        try:
            for name in _parts(rel):
                path = path / name
                try:
                    nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        os.mkdir(name, 0o700, dir_fd=fd)
                    except FileExistsError:
                        pass            # made meanwhile: opened (and checked) below
                    nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
                    give_to_owner(nxt)
                except OSError as exc:
                    raise _refusal(path, exc, lambda d=fd, n=name: os.stat(n, dir_fd=d, follow_symlinks=False),
                                   "a folder") from None
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return Folder(fd, path)

    def lstat(self, rel) -> os.stat_result | None:
        """The entry ``rel`` names, not followed (None: nothing by that name)."""
        try:
            parent, name = self._parent(rel)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            return os.stat(name, dir_fd=(parent or self).fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        finally:
            if parent is not None:
                parent.close()

    def exists(self, rel) -> bool:
        """Anything by that name (a link too: opening it is then refused, not skipped)."""
        return self.lstat(rel) is not None

    def is_dir(self, rel) -> bool:
        st = self.lstat(rel)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def open_fd(self, rel) -> int:
        """An O_PATH descriptor of the regular file ``rel``: the name looked up
        O_NOFOLLOW (a link yields the link itself), checked by fstat before
        anything opens the file (so a FIFO or device is never opened)."""
        parent, name = self._parent(rel)
        try:
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=(parent or self).fd)
        finally:
            if parent is not None:
                parent.close()
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise UnsafeEntry(f"{self.path / rel} is {kind_of(st.st_mode)}, not a regular file")
        return fd

    @contextmanager
    def reading(self, rel) -> Iterator[str]:
        """``/proc/self/fd/N`` of the checked file, valid inside the block (for pyarrow)."""
        fd = self.open_fd(rel)
        try:
            yield proc_path(fd)
        finally:
            os.close(fd)

    def pin(self, rel) -> str:
        """``/proc/self/fd/N`` of the checked file ``rel``, held open until
        ``unpin`` (for DuckDB, which opens the files only when a query runs)."""
        key = str(rel)
        if key not in self._pins:
            self._pins[key] = self.open_fd(rel)
        return proc_path(self._pins[key])

    def unpin(self) -> None:
        pins, self._pins = self._pins, {}
        for fd in pins.values():
            os.close(fd)

    def read_bytes(self, rel, limit: int = JSON_MAX) -> bytes:
        """The whole regular file ``rel``; one larger than ``limit`` is refused."""
        with self.reading(rel) as path, open(path, "rb") as fh:     # the checked inode itself
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise RecordingError(f"{self.path / rel} is {size:,} bytes, more than the "
                                     f"{limit:,} scope ever writes there", FIX)
            return fh.read(limit + 1)[:limit]

    def read_json(self, rel):
        return json.loads(self.read_bytes(rel))

    def walk(self, *, depth: int = WALK_DEPTH) -> Iterator[tuple[str, os.stat_result]]:
        """Every entry below, as (relative name, its own lstat), in name order;
        folders are entered (by descriptor), links never."""
        yield from self._walk("", depth)

    def _walk(self, prefix: str, depth: int):
        with os.scandir(self.fd) as it:
            entries = sorted((e.name, e) for e in it)
        for name, entry in entries:
            rel = f"{prefix}{name}"
            st = entry.stat(follow_symlinks=False)
            yield rel, st
            if stat.S_ISDIR(st.st_mode) and depth > 1:
                try:
                    sub = self.sub(name)
                except (OSError, RecordingError):
                    continue            # gone or swapped meanwhile: not walked
                with sub:
                    for srel, sst in sub._walk("", depth - 1):
                        yield f"{rel}/{srel}", sst

    # ------------------------------------------------------------- writing
    @contextmanager
    def writing(self, rel) -> Iterator[str]:
        """A temporary file beside ``rel`` (made anew, exclusively, 0600), as
        ``/proc/self/fd/N`` to write through; on success fsynced, the sudo
        user's, renamed into place within this folder's descriptor."""
        parent, name = self._parent(rel, create=True)
        d = parent or self
        tmp = f".{name}.tmp"
        fd = -1
        try:
            try:                # a leftover (or a link planted there) is removed, never opened
                os.unlink(tmp, dir_fd=d.fd)
            except FileNotFoundError:
                pass
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=d.fd)
            yield proc_path(fd)
            os.fchmod(fd, 0o600)
            give_to_owner(fd)
            os.fsync(fd)
            os.rename(tmp, name, src_dir_fd=d.fd, dst_dir_fd=d.fd)
            tmp = None
            os.fsync(d.fd)
        finally:
            if fd >= 0:
                os.close(fd)
            if tmp is not None:
                try:
                    os.unlink(tmp, dir_fd=d.fd)
                except OSError:
                    pass
            if parent is not None:
                parent.close()

    def write_bytes(self, rel, data: bytes) -> None:
        with self.writing(rel) as tmp, open(tmp, "wb") as fh:
            fh.write(data)

    def unlink(self, rel, *, missing_ok: bool = True) -> None:
        """Remove the entry (a link is removed as a link, never followed)."""
        try:
            parent, name = self._parent(rel)
        except (FileNotFoundError, NotADirectoryError):
            if missing_ok:
                return
            raise
        try:
            os.unlink(name, dir_fd=(parent or self).fd)
        except FileNotFoundError:
            if not missing_ok:
                raise
        finally:
            if parent is not None:
                parent.close()

    def rmdir(self, rel) -> None:
        parent, name = self._parent(rel)
        try:
            os.rmdir(name, dir_fd=(parent or self).fd)
        finally:
            if parent is not None:
                parent.close()


def folder_of(where: Folder | Path | str) -> tuple[Folder, bool]:
    """(an open Folder, whether the caller opened it and must close it)."""
    if isinstance(where, Folder):
        return where, False
    return Folder.open(where), True


def _refusal(path: Path, exc: OSError, lstat, want: str = "a regular file") -> OSError | RecordingError:
    """What a failed O_NOFOLLOW open means: a link or another kind of entry is
    refused by name; a missing file stays FileNotFoundError (callers say so)."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO):
        try:
            mode = lstat().st_mode
        except OSError:
            return exc
        if stat.S_ISLNK(mode) or (want == "a folder") != stat.S_ISDIR(mode):
            return UnsafeEntry(f"{path} is {kind_of(mode)}, not {want}")
    return exc
