"""`scope attach PID`: record a running Python process."""
from __future__ import annotations

import sys

from ..errors import UsageError
from .recording import add_output_options, check_privileges, output_folder, print_summary, program_config


class AttachCommand:
    help = "record a running Python process until Ctrl-C, --duration or its exit"

    def prepare_parser(self, parser) -> None:
        parser.add_argument("pid", type=int, help="process id of the Python program")
        parser.add_argument("--duration", type=float, metavar="SECONDS",
                            help="stop after this many seconds")
        add_output_options(parser)

    def run(self, args) -> int:
        from ..collector.session import Session
        from ..collector.status import StatusLine
        from ..probes.plan import plan_probes
        from ..probes.target import inspect_process

        if args.pid <= 0:
            raise UsageError(f"pid must be a positive number, not {args.pid}", "see `pgrep -a python`")
        if args.duration is not None and not args.duration > 0:
            raise UsageError(f"--duration must be a positive number of seconds, not {args.duration}",
                             "e.g. --duration 10")
        config = program_config(args)
        target = inspect_process(args.pid)
        plan = plan_probes(target.version, target.markers)
        if args.ebpf:
            return print_program(target, plan, config)
        check_privileges()
        session = Session(target, plan, output_folder(args, target.pid), config=config,
                          duration=args.duration, status=StatusLine())
        session.attach()
        print(f"scope: recording pid {target.pid} ({' '.join(target.cmdline)[:80]}); "
              "Ctrl-C to stop", file=sys.stderr)
        result = session.record()
        print_summary(result, target)
        return 0


def print_program(target, plan, config) -> int:
    """The hidden --ebpf flag: show the eBPF program scope would load."""
    from ..probes.program import program_text, site_programs
    used = {c.marker for c in plan if c.use}
    print(program_text(site_programs([s for s in target.sites if s.marker in used])))
    print("/* cflags: " + " ".join(config.cflags()) + " */")
    return 0
