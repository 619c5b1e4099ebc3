"""`scope attach PID`: record a running Python process."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from ..collector.session import Session
from ..collector.status import StatusLine
from ..errors import NoMarkersError, ScopeError, TargetError, UsageError
from ..probes.calls import calls_source
from ..probes.container import host_ids, new_folder, remove, root_of
from ..probes.inject import blocker, inject, injected_code
from ..probes.program import program_text, site_groups
from ..probes.shim import add_shim_sites, build_shim, shim_extension, shim_in_root
from ..probes.target import inspect_process
from ..text import shown
from ..units import parse_seconds
from .recording import (
    add_output_options,
    attach_path,
    call_filters,
    check_flight,
    check_output,
    check_privileges,
    flight_recorder,
    output_folder,
    print_summary,
    probe_plan,
    program_config,
    recording_options,
    report_errors,
    unsafe_markers,
)


class AttachCommand:
    help = "record a running Python process until Ctrl-C, --duration or its exit"

    def prepare_parser(self, parser) -> None:
        parser.add_argument("pid", type=int, help="process id of the Python program")
        parser.add_argument("--duration", type=parse_seconds, metavar="SECONDS",
                            help="stop after this many seconds")
        parser.add_argument("--inject", action=argparse.BooleanOptionalAction, default=None,
                            help="load scope_shim into the process (gdb; remote debugging on 3.14+) "
                                 "for complete calls with durations from now on: the default where "
                                 "the interpreter's markers give no call entries (CPython 3.11-3.14); "
                                 "--no-inject records through the markers only")
        parser.add_argument("--follow", action="store_true",
                            help="also record the processes it forks from now on (each held until "
                                 "its probes are attached)")
        add_output_options(parser)

    def run(self, args) -> int:

        if args.pid <= 0:
            raise UsageError(f"pid must be a positive number, not {args.pid}", "see `pgrep -a python`")
        if args.duration is not None and not args.duration > 0:
            raise UsageError(f"--duration must be a positive number of seconds, not {args.duration}",
                             "e.g. --duration 10")
        config = program_config(args, follow=args.follow)
        call_filters(args)                       # usage errors first
        flight = flight_recorder(args)
        unsafe_markers(args)
        check_output(args)
        target = inspect_process(args.pid, require_markers=False)
        injection = _choose_injection(target, args.inject)
        try:
            return self._record(args, target, config, flight, injection)
        finally:
            if injection is not None:
                injection.remove()

    def _record(self, args, target, config, flight, injection) -> int:
        plan = probe_plan(args, target)
        check_flight(flight, version=target.version,
                     shim=injection is not None or any(s.provider == "scope" for s in target.sites))
        if args.ebpf:
            return print_program(target, plan, config)
        check_privileges()
        config = attach_path(args, config)
        session = Session(target, plan, output_folder(args, target.pid),
                          recording_options(args, config, flight), status=StatusLine())
        session.attach()
        if injection is not None:
            try:
                loaded = inject(target, injection.root, script=injection.script,
                                remove=injection.placed is not None)
            except BaseException:
                session.probes.detach()
                raise
            if not loaded:
                print("scope: the shim is queued and loads when the target's main thread next runs "
                      "Python code; calls are recorded from then on", file=sys.stderr)
        # said once Ctrl-C stops the recording cleanly (record's handlers are in place)
        result = session.record(on_attached=lambda: print(
            f"scope: recording pid {target.pid} ({shown(' '.join(target.cmdline)[:80])}); Ctrl-C to stop",
            file=sys.stderr, flush=True))
        print_summary(result, target)
        return 1 if report_errors(result) else 0


@dataclass
class Injection:
    """The shim made ready for a target: the folder holding scope_shim and (3.14+
    in a container) the script that imports it, both as the target sees them;
    in a container they are scope's own files there, removed after the recording."""
    pid: int
    root: str
    script: str | None = None
    placed: str | None = None
    owner: tuple[int, int] = (0, 0)         # the target's user: whom the placed folder is removed as

    def remove(self) -> None:
        if self.placed is not None:
            remove(root_of(self.pid), self.placed, self.owner)


def _choose_injection(target, requested: bool | None) -> Injection | None:
    """Load the shim or not (probes/calls.py decides; ``requested``: --inject,
    --no-inject or neither), and prepare it. Unasked, a shim that cannot be
    loaded leaves the markers to record, and the summary says what that lacks."""
    source = calls_source(target.version or (0, 0), target.markers, requested)
    target.calls = source.describe(injected=False)
    if not source.inject:
        if not target.sites:
            fix = ("drop --no-inject (scope's shim brings its own probes), or run the target with Debian's "
                   "/usr/bin/python3.11, which has USDT markers" if requested is False and target.version >= (3, 11)
                   else "run it with an interpreter built with --with-dtrace (Debian's python3.X), or CPython "
                   "3.11+ for scope's shim")
            raise NoMarkersError(f"process {target.pid} runs {target.exe} (CPython {target.version_text}), "
                                 "which has no USDT markers", fix)
        return None
    try:
        problem = blocker(target)
        if problem is not None:
            raise problem
        injection = _prepare_injection(target)
    except ScopeError as exc:
        if requested or not target.sites:
            raise            # asked for, or nothing else to record calls with
        target.calls = source.describe(injected=False, failure=exc.line())
        return None
    target.calls = source.describe(injected=True)
    return injection


def _prepare_injection(target) -> Injection:
    """Build the shim for the target's interpreter and add its probe sites to the target."""
    if target.version < (3, 11):
        raise TargetError(f"--inject needs CPython 3.11 or newer; process {target.pid} runs "
                          f"{target.version_text}", "attach without --inject")
    try:        # its user as the host sees it: whom its headers are read and its folder made as
        owner = host_ids(target.pid)
    except OSError as exc:
        raise TargetError(f"cannot read the user of process {target.pid}: {exc.strerror or exc}",
                          "is it still running?") from None
    if not target.own_mounts:
        # the file it runs, reached through the kernel (its path may now name another:
        # the target's word), read and never run (probes/interp.py)
        root = build_shim(f"/proc/{target.pid}/exe", libraries=target.binaries, ids=owner)
        add_shim_sites(target, str(shim_extension(root)))
        return Injection(target.pid, str(root))
    # in a container: scope's copy in its /tmp, which the target deletes once loaded
    folder = new_folder()
    script = {"inject.py": injected_code(folder, remove=True)} if target.version >= (3, 14) else {}
    shim_in_root(target, root_of(target.pid), folder, owner=owner, extra=script)
    return Injection(target.pid, folder, f"{folder}/inject.py" if script else None, placed=folder, owner=owner)


def print_program(target, plan, config) -> int:
    """The hidden --ebpf flag: show the eBPF program scope would load."""
    used = {c.marker for c in plan if c.use}
    print(program_text(site_groups([s for s in target.sites if s.marker in used]),
                       per_site=config.attach == "perf"))
    print("/* cflags: " + " ".join(config.cflags()) + " */")
    return 0
