"""Inspect a target process: does it exist, is it CPython, which markers does it carry.

psutil answers the process questions; the ELF notes of the executable and of
any libpython it maps answer the marker questions (scope.probes.usdt).
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field

import psutil
from elftools.common.exceptions import ELFError

from ..errors import NoMarkersError, PermissionsError, TargetError
from .usdt import UsdtSite, read_usdt_sites

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

    @property
    def markers(self) -> list[str]:
        return sorted({s.marker for s in self.sites})

    @property
    def version_text(self) -> str:
        return "%d.%d" % self.version if self.version else "unknown"


def _mapped_files(pid: int) -> list[str]:
    seen: list[str] = []
    with open(f"/proc/{pid}/maps") as fh:
        for line in fh:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].startswith("/"):
                path = parts[5].strip()
                if path not in seen:
                    seen.append(path)
    return seen


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
        sites = list(read_usdt_sites(real))
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
    exe_real = os.path.realpath(f"/proc/{pid}/exe")
    candidates = [p for p in mapped if p == exe_real or _LIBPYTHON.search(p) or "/scope_shim/_shim" in p]
    version = python_version_of(candidates) or python_version_of([exe])
    if version is None:
        raise TargetError(
            f"process {pid} ({os.path.basename(exe)}) is not a CPython process",
            "give the pid of a python process (see `pgrep -a python`)")
    sites: list[UsdtSite] = []
    binaries = []
    for path in candidates:
        try:
            found = read_usdt_sites(path)
        except (OSError, ValueError):
            continue
        binaries.append(path)
        sites.extend(s for s in found if s.provider in ("python", "scope"))
    target = Target(pid=pid, exe=exe, cmdline=cmdline, username=username,
                    version=version, binaries=binaries, sites=sites)
    if require_markers and not sites:
        raise NoMarkersError(
            f"process {pid} runs {exe} (CPython {target.version_text}), "
            "which has no USDT markers")
    return target


def address_of(pid: int, path: str, file_offset: int) -> int | None:
    """Where byte ``file_offset`` of ELF file ``path`` is mapped in ``pid`` (None: not mapped)."""
    with open(f"/proc/{pid}/maps") as fh:
        for line in fh:
            parts = line.split(None, 5)
            if len(parts) < 6 or os.path.realpath(parts[5].strip()) != path:
                continue
            start, end = (int(x, 16) for x in parts[0].split("-"))
            offset = int(parts[2], 16)
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
