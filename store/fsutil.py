"""Private, atomic files: recordings hold the target's data.

Files are created 0600 and folders 0700, owned by the user who ran sudo
(SUDO_UID/SUDO_GID) when there is one; a file becomes visible under its final
name only once complete (write to a temporary name, fsync, rename).
"""
from __future__ import annotations

import fcntl
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from ..errors import ScopeError


class OutputError(ScopeError):
    fix = "choose another output folder with -o DIR"


def owner_ids() -> tuple[int, int] | None:
    """(uid, gid) recordings should belong to, when running under sudo."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() == 0 and uid and gid and uid.isdigit() and gid.isdigit():
        return int(uid), int(gid)
    return None


def give_to_owner(path: Path | int) -> None:
    """Make the user who ran sudo own ``path`` (a path or descriptor); as root without sudo, nothing."""
    ids = owner_ids()
    if ids:
        if isinstance(path, int):
            os.fchown(path, *ids)
        else:
            os.chown(path, *ids, follow_symlinks=False)


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) 0700; refuse links and foreign folders."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and not probe.is_symlink():
        missing.append(probe)
        probe = probe.parent
    if missing:                        # we would write into `probe`: it must be ours too
        _check_owner(probe)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except OSError as exc:
            raise OutputError(f"cannot create folder {folder}: {exc.strerror}") from None
        give_to_owner(folder)
    if path.is_symlink():
        raise OutputError(f"output folder {path} is a symbolic link; scope does not follow links there")
    if not path.is_dir():
        raise OutputError(f"output path {path} exists and is not a folder")
    _check_owner(path)
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {path} is not writable")
    _tighten(path)
    return path


def _tighten(path: Path) -> None:
    """A folder scope writes a recording into is 0700, even one it was given
    (-o DIR, empty): left world-writable (a 1777 folder), anyone could plant or
    swap files beside the recording's."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if st.st_mode & 0o7077:
            os.fchmod(fd, 0o700)
    except OSError as exc:
        raise OutputError(f"cannot make output folder {path} private (0700): {exc.strerror}") from None
    finally:
        os.close(fd)


def _check_owner(path: Path) -> None:
    """Refuse a folder of another (non-root) user: root writing there would hand
    them a recording, or let them plant links in its path."""
    st = path.stat()
    if st.st_uid not in (0, os.geteuid()) and (owner_ids() or (None,))[0] != st.st_uid:
        raise OutputError(f"output folder {path} belongs to another user (uid {st.st_uid})")


@contextmanager
def atomic_file(path: Path):
    """Yield a temporary path next to ``path``; rename it into place on success."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        # whatever sits under the temporary name (a killed writer's leftover, or a
        # link planted there) is removed, never opened; the file is then made anew,
        # exclusively (O_EXCL: if anything appears in between, this fails), 0600
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        yield tmp
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.fchmod(fd, 0o600)
            give_to_owner(fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


LOCK = ".lock"


def hold_lock(folder: Path) -> int:
    """Mark ``folder`` as being written: an exclusive flock on DIR/.lock, held
    until the returned descriptor closes (also when the writer is killed), so
    `scope store compact/prune` never touch a recording in progress."""
    fd = os.open(Path(folder) / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OutputError(f"{folder} is being written by another scope") from None
    give_to_owner(fd)
    return fd


def is_locked(folder: Path) -> bool:
    """Is a live writer holding ``folder``'s lock?"""
    try:
        fd = os.open(Path(folder) / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def remove_tree(folder: Path) -> None:
    """Delete a recording: renamed first (the one step readers see), then removed."""
    folder = Path(folder)
    doomed = folder.with_name(f".deleting-{folder.name}")
    folder.rename(doomed)
    shutil.rmtree(doomed)
