"""Files inside a target's own root (a container), handled without trusting it.

A path walked from the host through ``/proc/PID/root`` follows the container's
absolute symlinks out to the host's files — as root. So every read or write
inside a target's root happens in a forked child that has made that root its
own (``fchdir`` to ``/proc/PID/root``, ``chroot(".")``): there, every path and
every symlink resolves inside the container. The child runs only scope's own
code, never a binary of the container.

Used by ``--inject`` into a container: the target's Python headers come out
(the shim is compiled on the host, see probes/shim.py), the built shim goes
into a private folder of the container's /tmp, and is removed after detach.
"""
from __future__ import annotations

import io
import os
import pickle
import secrets
import select
import shutil
import signal
import tarfile
import time
from pathlib import Path

from ..errors import ScopeError


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


def in_root(root: str, fn, *args, timeout: float | None = None):
    """``fn(*args)`` run in a child chrooted into ``root`` (``root_of(pid)``, or a
    folder a command is run chrooted in); its result (picklable) comes back, an
    exception as ContainerError — also when it takes longer than `timeout`
    seconds (the child is killed: a file the target names may be a pipe that
    never ends)."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:      # pragma: no cover - the child; reported through the pipe
        code = 1
        try:
            close_inherited((w,))
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
            os.fchdir(fd)
            os.chroot(".")
            os.chdir("/")
            reply = pickle.dumps(("ok", fn(*args)))
            code = 0
        except ScopeError as exc:        # scope's own explanation, with its fix
            reply = pickle.dumps(("scope", (str(exc), exc.fix)))
        except BaseException as exc:     # noqa: BLE001 - everything goes back to the parent
            reply = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
        with os.fdopen(w, "wb") as out:
            out.write(reply)
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as src:
        data = read_reply(src, child, timeout)
    os.waitpid(child, 0)
    try:
        status, value = pickle.loads(data)    # our own child wrote it
    except Exception:      # noqa: BLE001
        raise ContainerError(f"could not work inside {root} (the helper died)") from None
    if status == "scope":
        raise ContainerError(f"inside {root}: {value[0]}", value[1] or None)
    if status != "ok":
        raise ContainerError(f"inside {root}: {value}")
    return value


def read_reply(src, child: int, timeout: float | None) -> bytes:
    """The child's whole reply; b"" (and the child killed) past `timeout`."""
    if timeout is None:
        return src.read()
    deadline, parts = time.monotonic() + timeout, []
    while True:
        ready, _, _ = select.select([src], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            os.kill(child, signal.SIGKILL)
            return b""
        part = os.read(src.fileno(), 1 << 16)
        if not part:
            return b"".join(parts)
        parts.append(part)


def _pack(folders: list[str]) -> bytes:
    """(in the root) the folders as a tar, symlinks kept as links, never followed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for folder in folders:
            if os.path.isdir(folder):
                tar.add(folder, arcname=folder.lstrip("/"))
    return buf.getvalue()


def copy_out(root: str, folders: list[str], dest: Path) -> int:
    """Copy the regular files of ``folders`` of the target's root into ``dest``
    (same relative paths); links and anything naming a path outside ``dest``
    are left out. Returns how many files came."""
    data = in_root(root, _pack, folders)
    count = 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or not parts or member.name.startswith("/") or ".." in parts:
                continue
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            with open(target, "xb") as out:
                shutil.copyfileobj(src, out)
            count += 1
    return count


def _place(folder: str, files: dict[str, tuple[bytes, int]], owner: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """(in the root) the new folder ``folder`` (it must not exist) holding
    ``files``, owned by ``owner`` (uid, gid: the target removes it once loaded);
    each file's (device, inode)."""
    os.mkdir(folder, 0o700)            # fails on anything already there, a symlink included
    ids = {}
    for rel, (data, mode) in files.items():
        parent = os.path.join(folder, os.path.dirname(rel))
        os.makedirs(parent, mode=0o755, exist_ok=True)
        path = os.path.join(folder, rel)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(path, mode)
        st = os.stat(path, follow_symlinks=False)
        ids[rel] = (st.st_dev, st.st_ino)
    for dirpath, dirs, names in os.walk(folder):
        for name in [*dirs, *names]:
            os.chown(os.path.join(dirpath, name), *owner, follow_symlinks=False)
    os.chown(folder, *owner)
    os.chmod(folder, 0o755)            # complete: the target may read it now
    return ids


def new_folder() -> str:
    """A fresh name for ``place`` (in the target's /tmp)."""
    return f"/tmp/scope-shim-{secrets.token_hex(8)}"


def place(root: str, folder: str, source: Path, extra: dict[str, str] | None = None,
          owner: tuple[int, int] = (0, 0)) -> dict[str, tuple[int, int]]:
    """Copy the folder ``source`` (scope's own files), and ``extra`` (relative
    path -> text), into the new folder ``folder`` of ``root`` (see
    ``new_folder``), owned by ``owner`` (uid, gid: a target's user, which then
    may remove it); returns each file's identity there (device, inode)."""
    files = {}
    for path in sorted(source.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(source))] = (path.read_bytes(), 0o644)
    for rel, text in (extra or {}).items():
        files[rel] = (text.encode(), 0o644)
    return in_root(root, _place, folder, files, owner)


def _remove(folder: str) -> None:
    if os.path.basename(folder).startswith("scope-shim-"):
        shutil.rmtree(folder, ignore_errors=True)    # does not follow symlinks


def remove(root: str, folder: str) -> None:
    """Remove a folder ``place`` made (a target may have gone: then so has its root)."""
    if os.path.exists(root):
        try:
            in_root(root, _remove, folder)
        except ContainerError:
            pass
