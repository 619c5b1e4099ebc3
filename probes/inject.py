"""Load scope_shim into a running CPython that did not import it.

3.14+: ``sys.remote_exec`` (PEP 768), run by the target's own interpreter.
3.11-3.13: gdb. gdb only calls ``mmap`` (a plain system call wrapper, safe at
any instruction) to get a page for the code, writes the code there, and queues
it with ``Py_AddPendingCall``: the interpreter then runs it itself, in the main
thread, at a safe point between bytecodes — never Python code in the middle of
whatever the process was doing when gdb stopped it. The queued code catches
everything (a failing pending call would raise into the application). It runs
when the main thread next executes Python code.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import ScopeError
from .shim import shim_library


class InjectError(ScopeError):
    fix = "start the program under `scope run` instead, or import scope_shim in it"


def injected_code(shim_root: Path) -> str:
    return ("try:\n"
            "    import sys\n"
            f"    sys.path.insert(0, {str(shim_root)!r})\n"
            "    import scope_shim\n"
            "except BaseException:\n"
            "    pass\n")


def _gdb_script(code: str) -> str:
    data = code.encode() + b"\0"
    literal = "".join(f"\\{b:03o}" for b in data[:-1])
    return "\n".join([
        "set confirm off",
        "set pagination off",
        "set $page = ((void*(*)(void*, unsigned long, int, int, int, long))mmap)(0, 4096, 3, 0x22, -1, 0)",
        f'set {{char[{len(data)}]}} $page = "{literal}"',
        "print ((int(*)(void*, void*))Py_AddPendingCall)(PyRun_SimpleString, $page)",
        "detach",
        "quit",
    ]) + "\n"


def inject_with_gdb(pid: int, shim_root: Path, *, timeout: float = 30) -> None:
    gdb = shutil.which("gdb")
    if gdb is None:
        raise InjectError("--inject needs gdb for CPython before 3.14",
                          "install it (apt-get install gdb), or start the program under `scope run`")
    code = injected_code(shim_root)
    if len(code) >= 4000:
        raise InjectError("the shim's path is too long to inject")
    with tempfile.NamedTemporaryFile("w", suffix=".gdb") as script:
        script.write(_gdb_script(code))
        script.flush()
        try:
            res = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-x", script.name],
                                 capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise InjectError(f"gdb did not finish injecting into process {pid} in {timeout:.0f} s") from None
    queued = [line for line in res.stdout.splitlines() if line.startswith("$")]
    if res.returncode != 0 or not queued or not queued[-1].rstrip().endswith("= 0"):
        detail = (res.stderr.strip().splitlines() or res.stdout.strip().splitlines() or ["no output"])[-1]
        raise InjectError(f"gdb could not queue the shim in process {pid} ({detail})")


def inject_with_remote_exec(pid: int, python: str, shim_root: Path, *, timeout: float = 30) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(injected_code(shim_root))
    Path(script.name).chmod(0o644)
    res = subprocess.run([python, "-c", f"import sys; sys.remote_exec({pid}, {script.name!r})"],
                         capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise InjectError(f"sys.remote_exec into process {pid} failed: "
                          f"{(res.stderr.strip().splitlines() or ['?'])[-1]}")


def inject(pid: int, python: str, version: tuple[int, int], shim_root: Path, *,
           wait: float = 5.0) -> bool:
    """Queue the shim in ``pid``; True once it is loaded, False if still queued after ``wait`` s."""
    if version >= (3, 14):
        inject_with_remote_exec(pid, python, shim_root)
    else:
        inject_with_gdb(pid, shim_root)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if shim_library(pid):
            return True
        time.sleep(0.02)
    return False
