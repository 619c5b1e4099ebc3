"""Load scope_shim into a running CPython that did not import it.

3.14+: the target's remote-debugging support (PEP 768, what ``sys.remote_exec``
uses), requested by scope itself writing into its memory (probes/remote_exec.py):
no interpreter is run, neither the target's nor one of its version.
3.11-3.13: gdb. gdb only calls ``mmap`` (a plain system call wrapper, safe at
any instruction) to get a page for the code, writes the code there, and queues
it with ``Py_AddPendingCall``: the interpreter then runs it itself, in the main
thread, at a safe point between bytecodes — never Python code in the middle of
whatever the process was doing when gdb stopped it. The queued code catches
everything (a failing pending call would raise into the application).

The queue runs when the main thread next executes Python code. When it is
blocked instead (``time.sleep``, ``select``, ``read``, ``join()``… — waits
CPython makes with the GIL released, so the thread holds no interpreter lock),
gdb runs the same code in that thread under ``PyGILState_Ensure`` after 0.5 s.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import ScopeError
from ..text import shown
from .remote_exec import runtime_address, send_exec
from .shim import shim_library
from .symbols import function_addresses


class InjectError(ScopeError):
    fix = "start the program under `scope run` instead, or import scope_shim in it"


def injected_code(shim_root: Path | str, *, remove: bool = False) -> str:
    """What the target runs to load the shim. ``remove``: the folder is scope's
    copy inside a container — once imported (the extension stays mapped), the
    target deletes it and forgets the path, so nothing of scope's stays there
    even if the target ends before scope could clean up."""
    code = ("try:\n"
            "    import sys\n"
            f"    sys.path.insert(0, {str(shim_root)!r})\n"
            "    import scope_shim\n"
            "except BaseException:\n"
            "    pass\n")
    if remove:
        code += ("try:\n"
                 f"    sys.path.remove({str(shim_root)!r})\n"
                 "except BaseException:\n"
                 "    pass\n"
                 "try:\n"
                 "    import os\n"
                 f"    for _d, _s, _f in os.walk({str(shim_root)!r}, topdown=False):\n"
                 "        for _n in _f:\n"
                 "            os.unlink(os.path.join(_d, _n))\n"
                 "        os.rmdir(_d)\n"
                 "except BaseException:\n"
                 "    pass\n")
    return code


# system calls in which CPython has released the GIL (sleep, select/poll, read, wait, accept…);
# a futex wait may be the GIL itself, so it is not among them
_BLOCKING_SYSCALLS = {0, 7, 17, 23, 35, 43, 45, 47, 61, 230, 232, 247, 270, 271, 281, 288, 299}


# the functions gdb calls in the target, each by the address scope read from the
# very file the target maps (probes/symbols.py), never by a name gdb looks up
CALLED = ["mmap", "Py_AddPendingCall", "PyRun_SimpleString", "PyGILState_Ensure", "PyGILState_Release"]


def called_functions(target) -> dict[str, int]:
    """The address in ``target`` of each function of ``CALLED``."""
    try:
        found = function_addresses(target.pid, CALLED, target.binaries)
    except OSError as exc:
        raise InjectError(f"cannot read the memory map of process {target.pid}: {exc.strerror}") from None
    missing = [name for name in CALLED if name not in found]
    if missing:
        raise InjectError(f"process {target.pid} maps no file that defines {', '.join(missing)} "
                          "(looked for in its interpreter's files and its C library)")
    return found


def _gdb_script(code: str, calls: dict[str, int]) -> str:
    data = code.encode() + b"\0"
    literal = "".join(f"\\{b:03o}" for b in data[:-1])
    return "\n".join([
        "set confirm off",
        "set pagination off",
        "set $page = ((void*(*)(void*, unsigned long, int, int, int, long))"
        f"{calls['mmap']:#x})(0, 4096, 3, 0x22, -1, 0)",
        f'set {{char[{len(data)}]}} $page = "{literal}"',
        "print $page",
        f"print ((int(*)(void*, void*)){calls['Py_AddPendingCall']:#x})"
        f"((void*){calls['PyRun_SimpleString']:#x}, $page)",
        "detach",
        "quit",
    ]) + "\n"


def _gdb_direct_script(page: int, calls: dict[str, int]) -> str:
    """Run the queued code now, in the main thread, which is blocked outside the GIL."""
    return "\n".join([
        "set confirm off",
        "set pagination off",
        f"set $gil = ((int(*)(void)){calls['PyGILState_Ensure']:#x})()",
        f"print ((int(*)(void*)){calls['PyRun_SimpleString']:#x})((void*){page:#x})",
        f"call ((void(*)(int)){calls['PyGILState_Release']:#x})($gil)",
        "detach",
        "quit",
    ]) + "\n"


_FUTEX = 202


def _syscall(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/task/{pid}/syscall") as fh:
            first = fh.read().split()[0]
    except (OSError, IndexError):
        return None
    return int(first) if first.isdigit() else None


def _wakeups(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/task/{pid}/status") as fh:
            for line in fh:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main_thread_blocked(pid: int) -> bool:
    """True when the main thread sits in a system call that runs without the GIL.

    A futex wait is either a lock (``join()``, ``Lock.acquire()``: the GIL is
    released) or the GIL itself; a thread waiting for the GIL wakes every 5 ms
    (CPython's timed wait), a thread waiting on a lock does not wake at all.
    """
    call = _syscall(pid)
    if call in _BLOCKING_SYSCALLS:
        return True
    if call != _FUTEX:
        return False
    before = _wakeups(pid)
    time.sleep(0.05)
    return before is not None and _syscall(pid) == _FUTEX and _wakeups(pid) == before


# gdb reads the target's files (its executable, its libraries, their debug
# sections): input the target chose. So it loads nothing of theirs — no gdbinit
# (-nx -nh), no auto-loaded script or libthread_db beside the target's libraries
# (auto-load off; the host's own libthread_db only), no debuginfod download —
# and it runs as the target's own user with no capability (gdb_user), so a file
# crafted to exploit gdb's parsers gains nothing the target did not have. As that
# user it reads the target's files through /proc/PID/root (its sysroot: a
# container's libraries, not the host's of the same names, without entering the
# target's mount namespace, which would need CAP_SYS_ADMIN); what it calls it
# calls by the addresses scope read from the mapped files (CALLED), so a path
# that resolves elsewhere there (an absolute symlink) changes nothing it calls.
GDB_PATH = "/usr/bin:/bin"      # the host's gdb, not one the environment names
GDB_OPTIONS = ("-nx", "-nh", "-iex", "set auto-load off", "-iex", "set debuginfod enabled off",
               "-iex", "set libthread-db-search-path $sdir")


def _ids(pid: int) -> tuple[list[int], list[int]] | None:
    """(uids, gids) of ``pid``: real, effective, saved, filesystem."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("Uid:", "Gid:")):
                    found[line[:3]] = [int(x) for x in line.split()[1:5]]
    except (OSError, ValueError):
        return None
    return (found["Uid"], found["Gid"]) if len(found) == 2 else None


def gdb_user(target) -> tuple[int, int] | None:
    """Whom gdb runs as against ``target``: its own user and group as the host
    sees them (a process may trace its own user's: no Yama here; one in a user
    namespace its user made, ``unshare -Urm``, too: that user holds every
    capability there), or None: root, only when the target's host uid is 0 (a
    host process of root's, or a container run as the host's root: gdb as root
    then has nothing to gain over the target, and it enters the target's mount
    namespace), or when scope itself is not root. A target in a mount namespace
    of its own whose host uid is not 0 gets gdb as that uid: the target's files
    are read through ``/proc/PID/root`` (``_run_gdb``)."""
    ids = _ids(target.pid)
    if ids is None:
        raise InjectError(f"cannot read the user ids of process {target.pid}")
    uids, gids = ids
    if 0 in uids or os.geteuid() != 0:
        return None
    if len(set(uids)) != 1 or len(set(gids)) != 1:
        raise InjectError(f"process {target.pid} runs with mixed user or group ids (a set-id program): "
                          "gdb as its user cannot attach to it, and scope does not run gdb as root for it")
    try:
        dumpable = os.stat(f"/proc/{target.pid}").st_uid == uids[0]     # else the kernel shows it as root's
    except OSError:
        dumpable = False
    if not dumpable:
        raise InjectError(f"process {target.pid} is not dumpable (it changed user, or set PR_SET_DUMPABLE "
                          "to 0): gdb as its user cannot attach to it")
    return uids[0], gids[0]


def _run_gdb(pid: int, script_text: str, timeout: float, user: tuple[int, int] | None = None) -> str:
    """gdb on ``pid`` running ``script_text`` (stopping at its first error), as
    ``user`` (uid, gid; None: root) with no capability, or as root."""
    gdb = shutil.which("gdb", path=GDB_PATH)
    if gdb is None:
        raise InjectError("--inject needs gdb for CPython before 3.14",
                          "install it (apt-get install gdb), or start the program under `scope run`")
    folder = tempfile.mkdtemp(prefix="scope-gdb-")    # root's; the script readable by gdb's user
    try:
        os.chmod(folder, 0o711)
        script = os.path.join(folder, "inject.gdb")
        with open(script, "x") as fh:
            fh.write(script_text)
        os.chmod(script, 0o644)
        # -se: the file the target runs, through the kernel (gdb finds none by its
        # path once it is deleted, and its path may name another file by then)
        cmd = [gdb, *GDB_OPTIONS, "-se", f"/proc/{pid}/exe", "-p", str(pid), "-batch", "-x", script]
        if user is not None:
            # the target's files through its root, as the kernel resolves them for
            # its user (gdb cannot enter another mount namespace without privilege)
            cmd[1:1] = ["-iex", f"set sysroot /proc/{pid}/root"]
            cmd = ["/usr/bin/setpriv", f"--reuid={user[0]}", f"--regid={user[1]}", "--clear-groups", "--no-new-privs",
                   "--inh-caps=-all", "--bounding-set=-all", "--", *cmd]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/",
                                 env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise InjectError(f"gdb did not finish with process {pid} in {timeout:.0f} s") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if res.returncode != 0:
        lines = res.stderr.strip().splitlines()
        # a refused attach (a user namespace the target's user does not own) says so first
        detail = next((line for line in lines if line.startswith("ptrace:")), (lines or ["no output"])[-1])
        raise InjectError(f"gdb failed on process {pid} ({shown(detail[:300])})")
    return res.stdout


def inject_with_gdb(pid: int, shim_root: Path, calls: dict[str, int], *, remove: bool = False,
                    timeout: float = 30, user: tuple[int, int] | None = None) -> int:
    """Queue the shim's import in ``pid``; returns the address of the code page.
    ``calls``: the functions' addresses (``called_functions``); ``user``: whom
    gdb runs as (``gdb_user``). (gdb warns that thread lists may be unreliable
    across PID namespaces; this script uses none.)"""
    code = injected_code(shim_root, remove=remove)
    if len(code) >= 4000:
        raise InjectError("the shim's path is too long to inject")
    out = _run_gdb(pid, _gdb_script(code, calls), timeout, user)
    values = [line.split("=", 1)[1].strip() for line in out.splitlines() if line.startswith("$")]
    if len(values) < 2 or values[-1] != "0":
        raise InjectError(f"gdb could not queue the shim in process {pid} ({shown(out.strip()[-200:])})")
    try:
        return int(values[0].split()[-1], 16)
    except ValueError:
        raise InjectError(f"gdb gave no code page for process {pid} ({shown(values[0][:100])})") from None


def inject_with_remote_exec(target, script: str) -> None:
    """3.14+: the target runs ``script`` (a path as it sees it) at its next safe
    point — requested by scope itself (probes/remote_exec.py), no interpreter run."""
    send_exec(target.pid, target.version, runtime_address(target.pid, target.binaries), script)


def _tracer(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def blocker(target) -> ScopeError | None:
    """Why the shim cannot be loaded into ``target`` (None: nothing known against
    it), checked before anything is attached or written: ``attach`` falls back on
    the markers when it was not asked for --inject."""
    if target.version < (3, 11):
        return InjectError(f"the shim needs CPython 3.11 or newer; process {target.pid} runs "
                           f"{target.version_text}", "attach without --inject")
    if target.version >= (3, 14):
        try:
            send_exec(target.pid, target.version, runtime_address(target.pid, target.binaries),
                      "/" * 8, write=False)
        except ScopeError as exc:
            return exc
        return None
    if shutil.which("gdb", path=GDB_PATH) is None:
        return InjectError("loading the shim needs gdb for CPython before 3.14",
                           "install it (apt-get install gdb), or start the program under `scope run`")
    try:
        gdb_user(target)
        called_functions(target)
    except InjectError as exc:
        return exc
    tracer = _tracer(target.pid)
    if tracer:
        return InjectError(f"process {target.pid} is being traced by process {tracer} (a debugger), "
                           "and gdb cannot attach beside it", "detach that debugger first")
    return None


def inject(target, shim_root: str, *, script: str | None = None, remove: bool = False,
           wait: float = 5.0) -> bool:
    """Queue the shim in the target (``shim_root``: the folder holding scope_shim,
    as the target sees it; ``script``: on 3.14+, a file the target can read that
    holds ``injected_code(shim_root)``, else one is written to /tmp here and
    removed; ``remove``: the target deletes ``shim_root`` once loaded, see
    ``injected_code``); True once it is loaded, False if still queued after
    ``wait`` s."""
    pid = target.pid
    page = user = None
    calls: dict[str, int] = {}
    temporary = None
    if target.version >= (3, 14):
        if script is None:
            with tempfile.NamedTemporaryFile("w", prefix="scope-inject-", suffix=".py", delete=False) as fh:
                fh.write(injected_code(Path(shim_root)))
            temporary = script = fh.name
            os.chmod(script, 0o644)        # the target's user reads it
        inject_with_remote_exec(target, script)
    else:
        user, calls = gdb_user(target), called_functions(target)
        page = inject_with_gdb(pid, Path(shim_root), calls, remove=remove, user=user)
    try:
        deadline = time.monotonic() + wait
        nudge_at = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            if shim_library(pid):
                return True
            if page is not None and time.monotonic() >= nudge_at and main_thread_blocked(pid):
                # the main thread waits outside the GIL (sleep, select, read…): run the
                # code there now rather than when it wakes; the queued copy is a no-op then
                _run_gdb(pid, _gdb_direct_script(page, calls), 30, user)
                page = None
            time.sleep(0.02)
        return bool(shim_library(pid))
    finally:
        if temporary is not None and shim_library(pid):
            os.unlink(temporary)       # read by now (else it stays for the queued call)
