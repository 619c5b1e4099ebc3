"""Private, atomic files: recordings hold the target's data.

Files are created 0600 and folders 0700, owned by the user who ran sudo
(SUDO_UID/SUDO_GID) when there is one; a file becomes visible under its final
name only once complete (write to a temporary name, fsync, rename).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path

from ..errors import RecordingError, ScopeError
from .safeopen import Folder, UnsafeEntry, folder_of, give_to_owner, owner_ids, proc_path


class OutputError(ScopeError):
    fix = "choose another output folder with -o DIR"


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
    """Yield a temporary path beside ``path`` (``/proc/self/fd/N`` of a file made
    anew, exclusively, 0600, in the folder's descriptor); renamed into place on
    success. Whatever sits under the temporary name (a killed writer's leftover,
    or a link planted there) is removed, never opened (store/safeopen.py)."""
    path = Path(path)
    try:
        with _parent_of(path) as folder, folder.writing(path.name) as tmp:
            yield tmp
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None


def _parent_of(path: Path) -> Folder:
    """The folder a file named by the user goes into, opened (the path to it is
    the user's own; inside a recording, Folder.writing is used instead)."""
    return Folder(os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), path.parent)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


LOCK = ".lock"


def hold_lock(folder: Path | Folder) -> int:
    """Mark ``folder`` as being written: an exclusive flock on DIR/.lock, held
    until the returned descriptor closes (also when the writer is killed), so
    `scope store compact/prune` never touch a recording in progress."""
    where, mine = folder_of(folder)
    try:
        fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600,
                     dir_fd=where.fd)
    except OSError as exc:
        raise OutputError(f"cannot lock {where.path}: {LOCK} is not a file scope made ({exc.strerror})") from None
    finally:
        if mine:
            where.close()
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OutputError(f"{where.path} is being written by another scope") from None
    give_to_owner(fd)
    return fd


def is_locked(folder: Path | Folder) -> bool:
    """Is a live writer holding ``folder``'s lock? (A lock that is not a regular
    file, e.g. a link, is never opened: not locked.)"""
    try:
        where, mine = folder_of(folder)
    except (OSError, RecordingError):
        return False
    try:
        fd = where.open_fd(LOCK)
        lock = os.open(proc_path(fd), os.O_RDONLY | os.O_CLOEXEC)
        os.close(fd)
    except (OSError, RecordingError):
        return False
    finally:
        if mine:
            where.close()
    try:
        fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(lock)


def remove_tree(folder: Path) -> None:
    """Delete a recording: renamed first (the one step readers see), then removed.
    A link in its place is refused; inside it nothing is followed (shutil.rmtree
    works by descriptor and removes links as links)."""
    folder = Path(folder)
    if folder.is_symlink():
        raise UnsafeEntry(f"{folder} is a symbolic link, not a folder")
    if not shutil.rmtree.avoids_symlink_attacks:       # pragma: no cover (Linux has the fd-based one)
        raise OutputError(f"cannot remove {folder} safely on this system")
    doomed = folder.with_name(f".deleting-{folder.name}")
    try:
        folder.rename(doomed)
        shutil.rmtree(doomed)       # a link swapped in meanwhile: refused here (OSError), not followed
    except OSError as exc:
        raise RecordingError(f"cannot remove {folder}: {exc.strerror or exc}",
                             "it was changed meanwhile, or is not scope's to remove") from None
