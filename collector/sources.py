"""Read a target's Python sources as the target itself could, and find their
definitions (collector/sourcedefs.py).

The file names come from the target, so they are untrusted: scope is root, and
a name may point anywhere (``/etc/shadow``), at a pipe that never ends, or
through a container's absolute symlink out to the host. So the reading and
parsing happen in a forked child that first takes the target's user and
groups (numeric ids, no name looked up: it reads what the target could read,
nothing more) and a memory limit, and is killed past a deadline. It never
enters the target's root: each name is resolved by the kernel inside it
(probes/rootfs.py: openat2 with RESOLVE_IN_ROOT on a descriptor of the
target's root held since it was seen; a relative name from its working
folder, as the target names that folder). Only regular files up to
MAX_SOURCE bytes are read (a FIFO or device is never opened for reading),
and compiled, never run. The child answers in JSON — never pickle, which
would let a process running as the target's user run code in scope.
"""
from __future__ import annotations

import json
import os
import resource
import time

from ..probes import rootfs
from ..probes.container import close_inherited, read_reply
from .sourcedefs import Def, definitions

MAX_SOURCE = 4 << 20            # bytes: larger files are not parsed
CHILD_MEMORY = 1 << 30          # address space the reading child may add to what it has


def _ids(pid: int) -> tuple[int, int, list[int]]:
    """The target's real uid, gid and supplementary groups (/proc/PID/status)."""
    uid = gid = None
    groups: list[int] = []
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key == "Uid":
                uid = int(value.split()[0])
            elif key == "Gid":
                gid = int(value.split()[0])
            elif key == "Groups":
                groups = [int(g) for g in value.split()]
    if uid is None or gid is None:
        raise OSError(f"no ids in /proc/{pid}/status")
    return uid, gid, groups


class Place:
    """Where a process's names resolve, held open: its root and working
    folders and its user. Held from when the process was seen alive, so that
    a short program's sources can be read after it has ended. ``cwd``: the
    working folder as a path inside the root (None: not reachable from the
    root, so relative names are unreadable)."""

    def __init__(self, root_fd: int, cwd_fd: int, ids: tuple[int, int, list[int]], cwd: str | None = "/") -> None:
        self.root_fd, self.cwd_fd, self.ids, self.cwd = root_fd, cwd_fd, ids, cwd
        root, here = os.fstat(root_fd), os.fstat(cwd_fd)
        self.key = (root.st_dev, root.st_ino, here.st_dev, here.st_ino, ids[0], ids[1])

    @classmethod
    def of(cls, pid: int, root: str | None = None) -> Place | None:
        """Process `pid`'s place now; with `root`, that folder is its root and
        working folder instead (a launcher's: `scope run -- chroot DIR …`).
        None when the process is gone."""
        fds = []
        try:
            ids = _ids(pid)
            for path in ([root, root] if root else [f"/proc/{pid}/root", f"/proc/{pid}/cwd"]):
                fds.append(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
            return cls(fds[0], fds[1], ids, "/" if root else _cwd_inside(pid, fds[0], fds[1]))
        except OSError:
            for fd in fds:
                os.close(fd)
            return None

    def close(self) -> None:
        for fd in (self.root_fd, self.cwd_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def _cwd_inside(pid: int, root_fd: int, cwd_fd: int) -> str | None:
    """Process ``pid``'s working folder as a path inside its root, provided that
    path leads (inside the root) to the very folder ``cwd_fd`` holds."""
    try:
        root, cwd = os.readlink(f"/proc/{pid}/root"), os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None
    if root != "/":          # a chroot seen from the host: its folders under its root's path
        if cwd != root and not cwd.startswith(root + "/"):
            return None
        cwd = cwd[len(root):] or "/"
    if not cwd.startswith("/"):
        return None
    try:
        fd = rootfs.open_in(root_fd, cwd, os.O_PATH | os.O_DIRECTORY)
    except (OSError, rootfs.RootfsError):
        return None
    try:
        there, held = os.fstat(fd), os.fstat(cwd_fd)
    finally:
        os.close(fd)
    return cwd if (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino) else None


def _address_space() -> int:
    """This process's virtual size in bytes (VmSize)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _read_one(place: Place, name: str) -> bytes:
    """The source ``name`` (as the target's code gives it), read inside its root."""
    if not name.startswith("/"):
        if place.cwd is None:
            raise OSError("relative to a working folder outside the root")
        name = place.cwd.rstrip("/") + "/" + name
    try:
        return rootfs.read_file(place.root_fd, name, MAX_SOURCE)
    except rootfs.RootfsError as exc:
        raise OSError(str(exc)) from None


def _defs_json(place: Place, files: list[str], deadline: float) -> dict:
    out = {}
    for name in files:
        if time.monotonic() > deadline:
            out[name] = "time"
            continue
        try:
            found = definitions(_read_one(place, name))
        except (OSError, ValueError):
            out[name] = "unreadable"
            continue
        except Exception:     # noqa: BLE001 - whatever the compiler says of it: not ours to read
            out[name] = "unparsable"
            continue
        out[name] = {n: [[d.qualname, d.first_line, d.start, d.end, d.is_class] for d in ds]
                     for n, ds in found.items()}
    return out


def _child(place: Place, files: list[str], deadline: float, w: int) -> None:
    # pragma: no cover - runs in the forked child; its answer is checked by the parent
    code = 1
    try:
        close_inherited((place.root_fd, w))
        # memory on top of what it inherits: the collector's own address space is
        # past 1.5 GiB (LLVM), and a limit below it fails every new allocation
        limit = _address_space() + CHILD_MEMORY
        uid, gid, groups = place.ids           # numbers: no user or group name is looked up
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        reply = json.dumps(_defs_json(place, files, deadline)).encode()
        code = 0
    except BaseException as exc:   # noqa: BLE001 - said to the parent, never raised here
        reply = json.dumps({"": f"{type(exc).__name__}"}).encode()
    try:
        _write_all(w, reply)
    finally:
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_definitions(place: Place, files: list[str], timeout: float) -> dict[str, dict[str, list[Def]] | str]:
    """For each file name (as the target's code objects give it), its
    definitions by co_name, or why there are none: "unreadable", "unparsable",
    "time" (past `timeout` seconds)."""
    r, w = os.pipe()
    deadline = time.monotonic() + timeout
    child = os.fork()
    if child == 0:
        _child(place, files, deadline, w)
    os.close(w)
    with os.fdopen(r, "rb") as src:
        data = read_reply(src, child, timeout + 0.5)
    os.waitpid(child, 0)
    return _parse_reply(data, files)


def _parse_reply(data: bytes, files: list[str]) -> dict[str, dict[str, list[Def]] | str]:
    """The child's JSON, checked: anything malformed counts as "time" (the child
    was killed) or "unreadable"."""
    try:
        raw = json.loads(data) if data else None
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        return {f: "time" if not data else "unreadable" for f in files}
    out: dict[str, dict[str, list[Def]] | str] = {}
    for f in files:
        value = raw.get(f, "unreadable")
        if isinstance(value, str):
            out[f] = value
            continue
        try:
            out[f] = {n: [Def(n, str(q), int(first), int(a), int(b), bool(c)) for q, first, a, b, c in ds]
                      for n, ds in value.items()}
        except (TypeError, ValueError, AttributeError):
            out[f] = "unreadable"
    return out
