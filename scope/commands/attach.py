"""`scope attach PID`: record a running Python process."""
from __future__ import annotations

import os
import sys

from ..errors import UsageError
from .recording import (add_output_options, attach_path, call_filters, check_flight, check_output, check_privileges,
                        flight_recorder, output_folder, print_summary, probe_plan, program_config,
                        report_errors, unsafe_markers)


class AttachCommand:
    help = "record a running Python process until Ctrl-C, --duration or its exit"

    def prepare_parser(self, parser) -> None:
        parser.add_argument("pid", type=int, help="process id of the Python program")
        parser.add_argument("--duration", type=float, metavar="SECONDS",
                            help="stop after this many seconds")
        parser.add_argument("--inject", action="store_true",
                            help="load scope_shim into the process (gdb; sys.remote_exec on 3.14+) "
                                 "for complete calls with durations from now on")
        parser.add_argument("--follow", action="store_true",
                            help="also record the processes it forks from now on (each held until "
                                 "its probes are attached)")
        add_output_options(parser)

    def run(self, args) -> int:
        from ..collector.session import Session
        from ..collector.status import StatusLine
        from ..probes.target import inspect_process

        if args.pid <= 0:
            raise UsageError(f"pid must be a positive number, not {args.pid}", "see `pgrep -a python`")
        if args.duration is not None and not args.duration > 0:
            raise UsageError(f"--duration must be a positive number of seconds, not {args.duration}",
                             "e.g. --duration 10")
        config = program_config(args, follow=args.follow)
        filters, flight = call_filters(args), flight_recorder(args)     # usage errors first
        unsafe_markers(args)
        check_output(args)
        target = inspect_process(args.pid, require_markers=not args.inject)
        shim_root = None
        if args.inject and not any(s.provider == "scope" for s in target.sites):
            shim_root = _prepare_injection(target)
        plan = probe_plan(args, target)
        check_flight(flight, version=target.version,
                     shim=args.inject or any(s.provider == "scope" for s in target.sites))
        if args.ebpf:
            return print_program(target, plan, config)
        check_privileges()
        config = attach_path(args, config)
        session = Session(target, plan, output_folder(args, target.pid), config=config,
                          duration=args.duration, status=StatusLine(), min_duration_ns=args.min_duration, max_overhead=args.max_overhead,
                          write_every_s=args.write_every / 1e9,
                          call_filters=filters, flight=flight)
        session.attach()
        if shim_root is not None:
            from ..probes.inject import inject
            try:
                loaded = inject(target.pid, target.exe, target.version, shim_root)
            except BaseException:
                session.probes.detach()
                raise
            if not loaded:
                print("scope: the shim is queued and loads when the target's main thread next runs "
                      "Python code; calls are recorded from then on", file=sys.stderr)
        # said once Ctrl-C stops the recording cleanly (record's handlers are in place)
        result = session.record(on_attached=lambda: print(
            f"scope: recording pid {target.pid} ({' '.join(target.cmdline)[:80]}); Ctrl-C to stop",
            file=sys.stderr, flush=True))
        print_summary(result, target)
        return 1 if report_errors(result) else 0


def _prepare_injection(target):
    """Build the shim for the target's interpreter and add its probe sites to the target."""
    from ..errors import TargetError
    from ..probes.shim import build_shim, shim_extension
    from ..probes.usdt import read_usdt_sites
    if target.version < (3, 11):
        raise TargetError(f"--inject needs CPython 3.11 or newer; process {target.pid} runs "
                          f"{target.version_text}", "attach without --inject")
    if target.own_mounts:
        # the shim is built by running the target's interpreter, and loaded from a
        # folder it can see: neither holds across a mount namespace (yet)
        raise TargetError(f"cannot load the shim into process {target.pid}: it runs in a container "
                          "(its own mount namespace), where scope cannot build and place it yet",
                          "attach without --inject: the interpreter's own markers "
                          "(calls on CPython 3.11 and 3.15; gc, imports and audit on all)")
    root = build_shim(f"/proc/{target.pid}/exe" if not os.path.exists(target.exe) else target.exe)
    ext = str(shim_extension(root))
    target.binaries.append(ext)
    target.sites.extend(s for s in read_usdt_sites(ext) if s.provider == "scope")
    return root


def print_program(target, plan, config) -> int:
    """The hidden --ebpf flag: show the eBPF program scope would load."""
    from ..probes.program import program_text, site_groups
    used = {c.marker for c in plan if c.use}
    print(program_text(site_groups([s for s in target.sites if s.marker in used]),
                       per_site=config.attach == "perf"))
    print("/* cflags: " + " ".join(config.cflags()) + " */")
    return 0
