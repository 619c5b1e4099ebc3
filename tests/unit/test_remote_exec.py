"""scope's own sys.remote_exec (probes/remote_exec.py): the offsets it relies on,
what it writes, and what it refuses — on memory of this process laid out as a
CPython 3.14 interpreter's (ground truth known exactly), and against the real
headers of 3.14 and 3.15 (the container root set-up builds)."""
from __future__ import annotations

import ctypes
import os
import struct
import subprocess
from pathlib import Path

import pytest

from scope.probes import remote_exec as rx

ROOT = Path(os.environ.get("SCOPE_CONTAINER_CACHE", "/var/cache/scope-container")) / "root"
PROBE = r"""
#include <stddef.h>
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_debug_offsets.h>
#include <stdio.h>
#define O(f) printf("%zu ", offsetof(_Py_DebugOffsets, f))
int main(void) {
    O(runtime_state.interpreters_head); O(interpreter_state.threads_main);
    O(debugger_support.eval_breaker); O(debugger_support.remote_debugger_support);
    O(debugger_support.remote_debugging_enabled); O(debugger_support.debugger_pending_call);
    O(debugger_support.debugger_script_path); O(debugger_support.debugger_script_path_size);
    printf("%zu\n", sizeof(_Py_DebugOffsets));
    return 0;
}
"""


@pytest.mark.parametrize("version", sorted(rx.LAYOUTS))
def test_layouts_are_what_cpythons_headers_say(tmp_path, version):
    include = ROOT / "usr" / "include" / f"python{version[0]}.{version[1]}"
    if not (include / "Python.h").exists():
        pytest.skip(f"no headers of CPython {version[0]}.{version[1]} in {ROOT} (./setup.sh builds it)")
    (tmp_path / "probe.c").write_text(PROBE)
    subprocess.run(["gcc", f"-I{include}", f"-idirafter{ROOT / 'usr' / 'include'}", "-o", str(tmp_path / "probe"),
                    str(tmp_path / "probe.c")], check=True)
    got = [int(x) for x in subprocess.run([str(tmp_path / "probe")], capture_output=True, text=True,
                                          check=True).stdout.split()]
    assert rx.Layout(*got) == rx.LAYOUTS[version]


class FakeInterpreter:
    """This process's memory laid out as CPython 3.14's runtime, interpreter and
    main thread state, as far as remote execution reads and writes them."""

    def __init__(self, version=(3, 14), enabled=1, cookie=b"xdebugpy"):
        lay = rx.LAYOUTS[(3, 14)]
        self.tstate = ctypes.create_string_buffer(4096)
        self.interp = ctypes.create_string_buffer(256)
        self.runtime = ctypes.create_string_buffer(4096)
        # runtime: _Py_DebugOffsets first, the interpreters list head at 2048
        offsets = {"interpreters_head": 2048, "threads_main": 64, "eval_breaker": 8,
                   "remote_debugger_support": 512, "remote_debugging_enabled": 16,
                   "debugger_pending_call": 0, "debugger_script_path": 4, "debugger_script_path_size": 512}
        self.offsets = offsets
        struct.pack_into("=8sQ", self.runtime, 0, cookie, (version[0] << 24) | (version[1] << 16) | 0xF0)
        for name, value in offsets.items():
            struct.pack_into("=Q", self.runtime, getattr(lay, name), value)
        struct.pack_into("=Q", self.runtime, 2048, ctypes.addressof(self.interp))
        struct.pack_into("=i", self.interp, 16, enabled)
        struct.pack_into("=Q", self.interp, 64, ctypes.addressof(self.tstate))
        struct.pack_into("=Q", self.tstate, 8, 0b11)          # other eval breaker bits, kept

    def written(self) -> tuple[bytes, int, int]:
        support = 512
        path = self.tstate.raw[support + 4: support + 4 + 512].split(b"\0")[0]
        pending = struct.unpack_from("=i", self.tstate, support)[0]
        breaker = struct.unpack_from("=Q", self.tstate, 8)[0]
        return path, pending, breaker


def test_the_request_is_written_where_cpython_reads_it():
    fake = FakeInterpreter()
    rx.send_exec(os.getpid(), (3, 14), ctypes.addressof(fake.runtime), "/tmp/scope-shim-x/inject.py")
    assert fake.written() == (b"/tmp/scope-shim-x/inject.py", 1, 0b11 | rx.PLEASE_STOP_BIT)


@pytest.mark.parametrize("fake,version,says", [
    (dict(cookie=b"notpython"[:8]), (3, 14), "is not the CPython 3.14 scope expected"),
    (dict(version=(3, 13)), (3, 14), "is not the CPython 3.14 scope expected"),
    (dict(enabled=0), (3, 14), "remote debugging is disabled"),
    (dict(), (3, 99), "does not know CPython 3.99"),
])
def test_refusals_write_nothing(fake, version, says):
    f = FakeInterpreter(**fake)
    before = f.tstate.raw
    with pytest.raises(rx.RemoteExecError, match=says):
        rx.send_exec(os.getpid(), version, ctypes.addressof(f.runtime), "/tmp/x.py")
    assert f.tstate.raw == before


def test_a_path_too_long_is_refused():
    f = FakeInterpreter()
    with pytest.raises(rx.RemoteExecError, match="too long"):
        rx.send_exec(os.getpid(), (3, 14), ctypes.addressof(f.runtime), "/" + "x" * 600)


def test_a_crafted_or_special_interpreter_file_is_refused_in_one_line(tmp_path):
    """The binary scope reads ``.PyRuntime`` from is the target's: garbage and a
    FIFO give one RemoteExecError, never a crash or a wait; a real interpreter
    parses (the control)."""
    from scope.probes.remote_exec import RemoteExecError, _runtime_in
    assert _runtime_in("/usr/bin/python3.11") > 0
    junk = tmp_path / "libpython3.14.so"
    junk.write_bytes(b"\x7fELF" + b"\xff" * 60)
    fifo = tmp_path / "python3.14"
    os.mkfifo(fifo)
    for path in (junk, fifo):
        with pytest.raises(RemoteExecError):
            _runtime_in(str(path))
