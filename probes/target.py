"""Inspect a target process: does it exist, is it CPython, which markers does it carry.

psutil answers the process questions; the ELF notes of the executable and of
any libpython it maps answer the marker questions (scope.probes.usdt).

A target in a container names its files by paths of its own mount namespace,
which may not exist here or may be another file here (the host's python3.11
beside a container's). Each mapped file is therefore reached by identity: the
kernel's ``/proc/PID/map_files`` entry says which file (device, inode) is
mapped, and scope uses the first path that opens that same file — the name
itself, the name under ``/proc/PID/root``, or else a file descriptor scope
holds open on the mapping (``/proc/self/fd/N``, which the kernel resolves for
uprobes and reads alike, for as long as scope runs).
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field

import psutil
from elftools.common.exceptions import ELFError

from ..errors import NoMarkersError, PermissionsError, TargetError
from .usdt import UsdtSite, python_sites, read_usdt_sites

_LIBPYTHON = re.compile(r"/libpython(\d+)\.(\d+)[^/]*\.so")
_PYBIN = re.compile(r"/python(\d+)\.(\d+)$")


@dataclass
class Target:
    pid: int
    exe: str
    cmdline: list[str]
    username: str
    version: tuple[int, int] | None
    binaries: list[str]                      # ELF files whose markers we read
    sites: list[UsdtSite] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # a binary's path here -> its name in the target
    nspid: list[int] = field(default_factory=list)     # its pid in each PID namespace, the host's first
    own_mounts: bool = False                           # in a mount namespace of its own (a container)
    calls: dict = field(default_factory=dict)          # where calls come from (probes/calls.py)
    root: str | None = None    # the folder its launcher makes its root (scope run -- chroot DIR …); None: its own

    @property
    def in_container(self) -> bool:
        return self.own_mounts or len(self.nspid) > 1

    def name_of(self, path: str) -> str:
        """A binary as the target names it (``path`` may be how scope reaches it)."""
        return self.names.get(path, path)

    def describe(self) -> dict:
        """The target as session.json keeps it (written twice: at attach, at the end)."""
        return {"pid": self.pid, "exe": self.exe, "cmdline": self.cmdline,
                "python_version": self.version_text, "user": self.username,
                # its pid as it sees itself (inside a container) and whether its files are its own
                "nspid": self.nspid or [self.pid], "own_mounts": self.own_mounts,
                **({"calls": self.calls} if self.calls else {})}

    @property
    def markers(self) -> list[str]:
        return sorted({s.marker for s in self.sites})

    @property
    def version_text(self) -> str:
        return f"{self.version[0]}.{self.version[1]}" if self.version else "unknown"


def _regions(pid: int):
    """(start, end, file offset, path as the target names it) of each file mapping."""
    with open(f"/proc/{pid}/maps") as fh:
        for line in fh:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].startswith("/"):
                start, end = (int(x, 16) for x in parts[0].split("-"))
                yield start, end, int(parts[2], 16), parts[5].rstrip("\n")


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _mapped_identity(pid: int, start: int, end: int) -> tuple[int, int] | None:
    """The identity of the file ``pid`` maps at ``start``-``end``, as the kernel
    says (None: /proc/PID/map_files, which needs CAP_SYS_ADMIN or
    CAP_CHECKPOINT_RESTORE, is closed to scope)."""
    return _identity(f"/proc/{pid}/map_files/{start:x}-{end:x}")


def regions_of(pid: int, paths: list[str]):
    """(path, start, end, file offset) of each mapping in ``pid`` of a file among
    ``paths`` (paths here, as in ``Target.binaries``), matched by identity."""
    wanted = {_identity(p): p for p in paths}
    wanted.pop(None, None)
    for start, end, offset, name in _regions(pid):
        ident = _mapped_identity(pid, start, end) or _identity(name)
        if ident in wanted:
            yield wanted[ident], start, end, offset


_PINNED: dict[tuple[int, int], str] = {}     # file identity -> /proc/self/fd/N held open


def reach(pid: int, path: str, start: int, end: int) -> str | None:
    """A path here that opens the very file ``pid`` maps at ``start``-``end`` under
    the name ``path``; None when it cannot be reached (see the module's docstring)."""
    mapping = f"/proc/{pid}/map_files/{start:x}-{end:x}"
    ident = _mapped_identity(pid, start, end)
    if ident is None:        # map_files closed to scope: trust the name
        return path if os.path.exists(path) else None
    for candidate in (path, f"/proc/{pid}/root{path}"):
        if _identity(candidate) == ident:
            return candidate
    if ident not in _PINNED:
        try:
            fd = os.open(mapping, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        _PINNED[ident] = f"/proc/self/fd/{fd}"
    return _PINNED[ident]


def pin(path: str, identity: tuple[int, int]) -> str:
    """A path here that stays on the file ``path`` opens now, provided it is the
    file ``identity`` names (a file scope put into a container: walking there
    from the host could be led elsewhere by the container's symlinks)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as exc:
        raise TargetError(f"cannot open {path}: {exc.strerror}") from None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != tuple(identity):
        os.close(fd)
        raise TargetError(f"{path} is not the file scope placed there (the target changed it)")
    if (st.st_dev, st.st_ino) in _PINNED:
        os.close(fd)
    else:
        _PINNED[(st.st_dev, st.st_ino)] = f"/proc/self/fd/{fd}"
    return _PINNED[(st.st_dev, st.st_ino)]


def _mapped_files(pid: int) -> dict[str, tuple[int, int]]:
    """Each file ``pid`` maps: its name in the target -> its first mapping."""
    found: dict[str, tuple[int, int]] = {}
    for start, end, _, path in _regions(pid):
        found.setdefault(path, (start, end))
    return found


def nspid(pid: int, tid: int | None = None) -> list[int]:
    """The process's (or its thread ``tid``'s) id in each PID namespace, the
    host's first, its own last ([]: gone)."""
    path = f"/proc/{pid}/status" if tid is None else f"/proc/{pid}/task/{tid}/status"
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("NSpid:"):
                    return [int(x) for x in line.split()[1:]]
    except (OSError, ValueError):
        pass
    return []


def _namespaces(pid: int) -> tuple[list[int], bool]:
    """(its pid in each PID namespace from the host's inward, whether its mount
    namespace differs from scope's)."""
    try:
        own = os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    except OSError:
        own = False
    return nspid(pid) or [pid], own


def own_name(pid: int, path: str) -> str:
    """``path`` (as the kernel shows it to scope) as the target itself names it:
    inside a container, the part below the target's root."""
    try:
        root = os.readlink(f"/proc/{pid}/root")
    except OSError:
        return path
    if root != "/" and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")):]
    return path


def _is_exe(pid: int, path: str, region: tuple[int, int]) -> bool:
    ident = _mapped_identity(pid, *region)
    if ident is None:                 # no CAP_SYS_ADMIN: by name
        return os.path.realpath(path) == os.path.realpath(f"/proc/{pid}/exe")
    return ident == _identity(f"/proc/{pid}/exe")


def python_version_of(paths: list[str]) -> tuple[int, int] | None:
    for path in paths:
        m = _LIBPYTHON.search(path) or _PYBIN.search(path)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def inspect_binary(path: str) -> Target:
    """Markers of an executable on disk (for `scope doctor --binary` and `scope run`)."""
    real = os.path.realpath(path)
    try:
        sites = python_sites(read_usdt_sites(real))
    except (OSError, ValueError, ELFError) as exc:
        raise TargetError(f"cannot read {path} as an ELF file ({exc})",
                          "name a Python interpreter executable") from None
    return Target(pid=0, exe=real, cmdline=[], username="", binaries=[real],
                  version=python_version_of([real]), sites=sites)


def inspect_process(pid: int, *, require_markers: bool = True) -> Target:
    """Check that ``pid`` is a live CPython process with USDT markers we can trace."""
    try:
        proc = psutil.Process(pid)
        exe = proc.exe()
        cmdline = proc.cmdline()
        username = proc.username()
        status = proc.status()
    except psutil.ZombieProcess:       # a NoSuchProcess too: ask for it first
        raise TargetError(f"process {pid} is a zombie (it has exited; its parent has not "
                          "collected it)", "attach to a running process") from None
    except psutil.NoSuchProcess:
        raise TargetError(f"no process with pid {pid}",
                          "check the pid with `ps` (the process may have exited)") from None
    except psutil.AccessDenied:
        if os.geteuid() == 0:       # root already: the kernel (a namespace, an LSM) refused
            raise PermissionsError(f"cannot inspect process {pid} even as root",
                                   "it may belong to another container or user namespace, or a "
                                   "security policy (Yama, an LSM) protects it; run scope there") from None
        raise PermissionsError(f"cannot inspect process {pid}") from None
    if status == psutil.STATUS_ZOMBIE:
        raise TargetError(f"process {pid} is a zombie (it has exited)",
                          "attach to a running process")
    try:
        mapped = _mapped_files(pid)
    except FileNotFoundError:
        raise TargetError(f"process {pid} exited", "attach to a running process") from None
    except PermissionError:
        raise PermissionsError(f"cannot read the memory map of process {pid}") from None
    candidates = [p for p in mapped if _LIBPYTHON.search(p) or "/scope_shim/_shim" in p
                  or _is_exe(pid, p, mapped[p])]
    version = python_version_of(candidates) or python_version_of([exe])
    if version is None:
        raise TargetError(
            f"process {pid} ({os.path.basename(exe)}) is not a CPython process",
            "give the pid of a python process (see `pgrep -a python`)")
    here = {p: reach(pid, p, *mapped[p]) for p in candidates}
    unreachable = [p for p in candidates if here[p] is None]
    if unreachable:
        raise TargetError(f"cannot see the target's files from here: process {pid} maps {unreachable[0]}, "
                          "which scope cannot open (neither under that name, nor under "
                          f"/proc/{pid}/root, nor through /proc/{pid}/map_files)",
                          "run scope as root with CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE (which "
                          "/proc/PID/map_files needs), in the host's PID namespace or the target's own")
    sites: list[UsdtSite] = []
    binaries: list[str] = []
    names: dict[str, str] = {}
    for path in candidates:
        try:
            found = read_usdt_sites(here[path])
        except (OSError, ValueError):
            continue
        binaries.append(here[path])
        names[here[path]] = own_name(pid, path)
        sites.extend(python_sites(found))
    nspid, own_mounts = _namespaces(pid)
    exe = own_name(pid, exe)
    target = Target(pid=pid, exe=exe, cmdline=cmdline, username=username, version=version,
                    binaries=binaries, sites=sites, names=names, nspid=nspid, own_mounts=own_mounts)
    if require_markers and not sites:
        raise NoMarkersError(
            f"process {pid} runs {exe} (CPython {target.version_text}), "
            "which has no USDT markers")
    return target


def address_of(pid: int, path: str, file_offset: int) -> int | None:
    """Where byte ``file_offset`` of ELF file ``path`` (a path here, as in
    ``Target.binaries``) is mapped in ``pid`` (None: not mapped)."""
    for _, start, end, offset in regions_of(pid, [path]):
        if offset <= file_offset < offset + (end - start):
            return start + file_offset - offset
    return None


def read_target_bytes(pid: int, path: str, file_offset: int, size: int) -> bytes:
    addr = address_of(pid, path, file_offset)
    if addr is None:
        raise TargetError(f"offset {file_offset:#x} of {path} is not mapped in process {pid}")
    with open(f"/proc/{pid}/mem", "rb") as mem:
        mem.seek(addr)
        return mem.read(size)


def read_semaphore(pid: int, site: UsdtSite) -> int:
    """Current value of a marker's semaphore in the target (tests, doctor)."""
    return struct.unpack("=H", read_target_bytes(pid, site.path, site.semaphore_offset, 2))[0]
