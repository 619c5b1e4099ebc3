"""`scope doctor`: is this machine (and this target) ready to record?"""
from __future__ import annotations

import shutil
import sys

from ..errors import ScopeError, UsageError
from ..probes.environment import all_checks
from ..probes.plan import plan_probes
from ..probes.shim import shim_library
from ..probes.target import inspect_binary, inspect_process
from ..probes.usdt import FUNCTION_PROVIDER
from ..text import shown


class DoctorCommand:
    help = "check the machine's eBPF support and a target's USDT markers"

    def prepare_parser(self, parser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--pid", type=int, help="also inspect this Python process")
        group.add_argument("--binary", metavar="PATH", help="also inspect this Python executable")

    def run(self, args) -> int:

        if args.pid is not None and args.pid <= 0:
            raise UsageError(f"pid must be a positive number, not {args.pid}", "see `pgrep -a python`")
        failed = []
        for check in all_checks():
            if not check.ok:
                failed.append(f"{check.name}: {check.detail}" + (f" (fix: {check.fix})" if check.fix else ""))
            line = f"{'ok ' if check.ok else 'NO '} {check.name:15} {check.detail}"
            print(line + (f"\n    fix: {check.fix}" if check.fix else ""))
        if args.pid is None and args.binary is None:
            return _verdict(failed)
        try:
            target = (inspect_process(args.pid, require_markers=False) if args.pid is not None
                      else inspect_binary(args.binary))
        except ScopeError as exc:
            print(f"NO  target          {shown(exc.line())}")
            raise            # and one line on stderr, from main()
        print(f"\ntarget {target.pid or ''} {shown(target.exe)} (CPython {target.version_text})")
        if target.in_container:
            print(container_status(target))
        for path in target.binaries:
            n = sum(1 for s in target.sites if s.path == path and s.provider != FUNCTION_PROVIDER)
            functions = sum(1 for s in target.sites if s.path == path and s.provider == FUNCTION_PROVIDER)
            name = target.name_of(path)
            print(f"  {shown(name)}: {n} USDT marker sites" + (f" and {functions} function probe" if functions else "")
                  + ("" if name == path else " (reached through its mapping)"))
        if args.pid is not None:
            print(shim_status(target))
        if not target.sites:
            fix = ("`scope attach PID --inject` or `scope run` (the shim brings its own probes), or "
                   "Debian's /usr/bin/python3.11")
            print(f"NO  markers         none: this interpreter was built without --with-dtrace\n    fix: {fix}")
            failed.append(f"{shown(target.exe)} has no USDT markers (fix: {fix})")
            return _verdict(failed)
        for choice in plan_probes(target.version or (0, 0), target.markers):
            sem = {s.marker: s.semaphore for s in target.sites}.get(choice.marker)
            flag = "use" if choice.use else "skip"
            # marker names are read from the target's binary (its ELF notes): shown escaped
            print(f"  {flag:4} {shown(choice.marker):36} {'semaphore' if sem else 'no semaphore':12}  "
                  f"{shown(choice.reason)}")
        return _verdict(failed)


def _verdict(failed: list[str]) -> int:
    """The report is on stdout; a failure also gets its one line on stderr."""
    if failed:
        more = f" (and {len(failed) - 1} more above)" if len(failed) > 1 else ""
        print(f"scope: error: {failed[0]}{more}", file=sys.stderr)
        return 1
    return 0


def container_status(target) -> str:
    """What it means for scope that the target runs in a container."""
    parts = []
    if len(target.nspid) > 1:
        parts.append(f"pid {target.nspid[-1]} in its own PID namespace (thread ids are shown as the "
                     "host's; session.json keeps both)")
    if target.own_mounts:
        parts.append(f"its own mount namespace: its files are reached through /proc/{target.pid}/root "
                     "or its mappings, and probes attach to its own binaries")
    return "--  container       " + "; ".join(parts)


def shim_status(target) -> str:
    """One line on the shim: loaded, injectable, or why not."""

    lib = shim_library(target.pid)
    if lib:
        return f"ok  shim            loaded ({shown(str(lib))}): complete calls with durations"
    if target.version is None or target.version < (3, 11):
        return "NO  shim            not loaded; --inject needs CPython 3.11 or newer"
    if target.version < (3, 14) and shutil.which("gdb") is None:
        return "NO  shim            not loaded; --inject needs gdb\n    fix: apt-get install gdb"
    if target.own_mounts:
        return ("--  shim            not loaded; `scope attach PID --inject` loads it: built here with "
                "the container's Python headers, placed in its /tmp for the recording")
    return ("--  shim            not loaded; `scope attach PID --inject` loads it "
            "(complete calls with durations)")
