"""Read a target's Python sources as the target itself could, and find their
definitions (collector/sourcedefs.py).

The file names come from the target, so they are untrusted: scope is root, and
a name may point anywhere (``/etc/shadow``), at a pipe that never ends, or
through a container's absolute symlink out to the host. So the reading and
parsing happen in a forked child that has made the target's root its own
(chroot to ``/proc/PID/root``, relative names from its working directory),
taken the target's user and groups (it reads what the target could read,
nothing more), and is killed past a deadline. Only regular files up to
MAX_SOURCE bytes are read, and compiled, never run. The child answers in JSON — never pickle, which
would let a process running as the target's user run code in scope.
"""
from __future__ import annotations

import json
import os
import resource
import stat
import time

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
    a short program's sources can be read after it has ended."""

    def __init__(self, root_fd: int, cwd_fd: int, ids: tuple[int, int, list[int]]) -> None:
        self.root_fd, self.cwd_fd, self.ids = root_fd, cwd_fd, ids
        root, cwd = os.fstat(root_fd), os.fstat(cwd_fd)
        self.key = (root.st_dev, root.st_ino, cwd.st_dev, cwd.st_ino, ids[0], ids[1])

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
            return cls(fds[0], fds[1], ids)
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


def _address_space() -> int:
    """This process's virtual size in bytes (VmSize)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _read_one(name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError("not a regular file")
        if st.st_size > MAX_SOURCE:
            raise OSError(f"larger than {MAX_SOURCE >> 20} MiB")
        data = os.read(fd, MAX_SOURCE + 1)
        if len(data) > MAX_SOURCE:
            raise OSError(f"larger than {MAX_SOURCE >> 20} MiB")
        return data
    finally:
        os.close(fd)


def _defs_json(files: list[str], deadline: float) -> dict:
    out = {}
    for name in files:
        if time.monotonic() > deadline:
            out[name] = "time"
            continue
        try:
            found = definitions(_read_one(name))
        except OSError:
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
        close_inherited((place.root_fd, place.cwd_fd, w))
        # memory on top of what it inherits: the collector's own address space is
        # past 1.5 GiB (LLVM), and a limit below it fails every new allocation
        limit = _address_space() + CHILD_MEMORY      # (/proc of the host: read before the chroot)
        os.fchdir(place.root_fd)
        os.chroot(".")
        os.fchdir(place.cwd_fd)      # relative names resolve from the target's working folder
        uid, gid, groups = place.ids
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        reply = json.dumps(_defs_json(files, deadline)).encode()
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
