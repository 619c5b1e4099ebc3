"""``sys.remote_exec`` (PEP 768) done by scope itself, for CPython 3.14 and newer.

CPython's own ``sys.remote_exec`` needs an interpreter of the target's version
on this side; scope would have to run the target's own binary — as root, and
for a container, a binary of the container. Instead scope writes the request
into the target's memory the way that function does: the interpreter keeps
``_Py_DebugOffsets`` at the start of its ``.PyRuntime`` section (where each
structure's fields are), and the main thread's ``remote_debugger_support``
takes a script path and a pending flag; a bit in its eval breaker makes the
interpreter run the script at its next safe point (between bytecodes, as a
pending call would).

The layout of ``_Py_DebugOffsets`` itself changes between minor versions:
``LAYOUTS`` holds the offsets scope uses, per version, as CPython's headers
give them (tests/unit/test_remote_exec.py derives them again from the real
headers of 3.14 and 3.15). The target's own answer is checked before anything
is written: its cookie, its version and the script path's size.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..errors import ScopeError
from .target import regions_of
from .usdt import open_regular


class RemoteExecError(ScopeError):
    fix = "start the program under `scope run` instead, or attach without --inject"


@dataclass(frozen=True)
class Layout:
    """Byte offsets inside ``_Py_DebugOffsets`` of one CPython minor version."""
    interpreters_head: int       # runtime_state.interpreters_head
    threads_main: int            # interpreter_state.threads_main
    eval_breaker: int            # debugger_support.*
    remote_debugger_support: int
    remote_debugging_enabled: int
    debugger_pending_call: int
    debugger_script_path: int
    debugger_script_path_size: int
    size: int                    # sizeof(_Py_DebugOffsets)


LAYOUTS = {
    (3, 14): Layout(40, 80, 712, 720, 728, 736, 744, 752, 760),
    (3, 15): Layout(40, 80, 840, 848, 856, 864, 872, 880, 888),
}
COOKIE = b"xdebugpy"
PLEASE_STOP_BIT = 1 << 5        # _PY_EVAL_PLEASE_STOP_BIT (3.14, 3.15)
SCRIPT_PATH_SIZE = 512          # _Py_MAX_SCRIPT_PATH_SIZE


def _runtime_in(path: str) -> int | None:
    """The ``.PyRuntime`` section's address relative to the file's first load
    segment (None: the file has none). The file is the target's: one that is
    not a regular file, or whose ELF headers do not parse, is refused in one
    line (a FIFO never blocks)."""
    try:
        fd = open_regular(path)
    except ValueError as exc:
        raise RemoteExecError(str(exc)) from None
    with os.fdopen(fd, "rb") as fh:
        try:
            elf = ELFFile(fh)
            section = elf.get_section_by_name(".PyRuntime")
            if section is None:
                return None
            load = next((seg for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"), None)
            if load is None:
                return None
            base = load["p_vaddr"] - (load["p_vaddr"] % max(load["p_align"], 1))
            return section["sh_addr"] - base
        except (ELFError, struct.error, ValueError, KeyError, IndexError) as exc:
            raise RemoteExecError(f"{path}: malformed ELF headers ({type(exc).__name__})") from None


def runtime_address(pid: int, binaries: list[str]) -> int:
    """Where ``_PyRuntime`` lives in ``pid``; ``binaries``: paths here to the files
    it maps (probes.target: a container's files are reached by identity)."""
    starts: dict[str, int] = {}
    for path, start, _, _ in regions_of(pid, binaries):
        starts[path] = min(start, starts.get(path, start))
    for path, start in starts.items():
        offset = _runtime_in(path)
        if offset is not None:
            return start + offset
    raise RemoteExecError(f"process {pid} has no .PyRuntime section in its interpreter's binaries")


class _Memory:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)

    def read(self, address: int, size: int) -> bytes:
        data = os.pread(self.fd, size, address)
        if len(data) != size:
            raise OSError(f"short read at {address:#x}")
        return data

    def pointer(self, address: int) -> int:
        return struct.unpack("=Q", self.read(address, 8))[0]

    def write(self, address: int, data: bytes) -> None:
        if os.pwrite(self.fd, data, address) != len(data):
            raise OSError(f"short write at {address:#x}")

    def close(self) -> None:
        os.close(self.fd)


def send_exec(pid: int, version: tuple[int, int], runtime: int, script: str, *, write: bool = True) -> None:
    """Ask ``pid``'s main thread to run the Python file ``script`` (a path as the
    target sees it) at its next safe point; ``write=False`` checks everything
    and writes nothing (whether it would work)."""
    layout = LAYOUTS.get(version)
    if layout is None:
        raise RemoteExecError(f"scope does not know CPython {version[0]}.{version[1]}'s debug offsets",
                              "known: " + ", ".join(f"{a}.{b}" for a, b in sorted(LAYOUTS)))
    path = script.encode()
    if len(path) >= SCRIPT_PATH_SIZE:
        raise RemoteExecError(f"the script path {script!r} is too long for remote execution")
    try:
        mem = _Memory(pid)
    except OSError as exc:
        raise RemoteExecError(f"cannot open process {pid}'s memory: {exc.strerror}") from None
    try:
        head = mem.read(runtime, layout.size)
        cookie, hexversion = head[:8], struct.unpack_from("=Q", head, 8)[0]
        if cookie != COOKIE or (hexversion >> 24, (hexversion >> 16) & 0xFF) != version:
            raise RemoteExecError(f"process {pid} is not the CPython {version[0]}.{version[1]} scope expected "
                                  "(its debug offsets say otherwise)")
        offsets = {name: struct.unpack_from("=Q", head, getattr(layout, name))[0]
                   for name in ("interpreters_head", "threads_main", "eval_breaker", "remote_debugger_support",
                                "remote_debugging_enabled", "debugger_pending_call", "debugger_script_path",
                                "debugger_script_path_size")}
        if offsets["debugger_script_path_size"] != SCRIPT_PATH_SIZE:
            raise RemoteExecError(f"process {pid}'s debug offsets do not have the layout scope knows "
                                  f"for CPython {version[0]}.{version[1]}")
        interp = mem.pointer(runtime + offsets["interpreters_head"])
        if not interp:
            raise RemoteExecError(f"process {pid} has no running interpreter")
        enabled = struct.unpack("=i", mem.read(interp + offsets["remote_debugging_enabled"], 4))[0]
        if enabled != 1:
            raise RemoteExecError(f"remote debugging is disabled in process {pid} "
                                  "(PYTHON_DISABLE_REMOTE_DEBUG, -X disable_remote_debug, or a build without it)")
        tstate = mem.pointer(interp + offsets["threads_main"])
        if not tstate:
            raise RemoteExecError(f"process {pid} has no main thread state")
        if not write:
            return
        support = tstate + offsets["remote_debugger_support"]
        mem.write(support + offsets["debugger_script_path"], path + b"\0")
        mem.write(support + offsets["debugger_pending_call"], struct.pack("=i", 1))
        breaker = mem.pointer(tstate + offsets["eval_breaker"])
        mem.write(tstate + offsets["eval_breaker"], struct.pack("=Q", breaker | PLEASE_STOP_BIT))
    except OSError as exc:
        raise RemoteExecError(f"could not write the request into process {pid} ({exc})") from None
    finally:
        mem.close()
