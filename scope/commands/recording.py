"""What `attach` and `run` share: options, preconditions, the session, the summary."""
from __future__ import annotations

import argparse
import argparse as _argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

from ..collector.flight import FlightRecorder, parse_trigger
from ..collector.options import BACKLOG_MEMORY, RecordingOptions
from ..errors import EnvironmentProblem, PermissionsError, UsageError
from ..probes.features import choose, detect, requested_mode
from ..probes.layout import header_constants
from ..probes.plan import plan_probes, unsafe_request
from ..probes.program import ProgramConfig
from ..probes.syscalls import parse_syscall_list
from ..text import shown
from ..units import human_bytes, parse_duration, parse_size


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="DIR", type=Path,
                        help="recording folder (default: a new folder under ./scope-recordings/)")
    parser.add_argument("--buffer-mb", type=int, default=16, metavar="MB",
                        help="kernel ring buffer size, a power of two (default 16)")
    parser.add_argument("--min-duration", metavar="DURATION", type=parse_duration, default=0,
                        help="keep only calls at least this long, e.g. 1ms, 250us (filtered in the "
                             "target by the shim; shorter calls count as their caller's own time)")
    parser.add_argument("--function", action="append", metavar="GLOB", dest="keep",
                        help="record only calls of functions matching GLOB (repeatable; decided in the "
                             "target by the shim)")
    parser.add_argument("--exclude", action="append", metavar="GLOB",
                        help="do not record calls of functions matching GLOB (repeatable)")
    parser.add_argument("--write-every", metavar="DURATION", type=parse_write_every, default=5 * 10**9,
                        help="finished calls and events reach disk at least this often (default 5s): "
                             "a collector killed outright loses at most this much")
    parser.add_argument("--max-backlog", metavar="SIZE", type=parse_spill, default=BACKLOG_MEMORY,
                        help="when scope falls behind a call flood, the calls it has taken from the "
                             "target wait in its memory, up to SIZE (default 512M), then spill to disk")
    parser.add_argument("--max-spill", metavar="SIZE", type=parse_spill, default=None,
                        help="...on disk, in the recording folder until it is finished, up to SIZE "
                             "(e.g. 2G; 0: never; default: a quarter of the free space there); only "
                             "past both are calls dropped, and counted")
    parser.add_argument("--max-overhead", type=float, metavar="PCT",
                        help="keep the target's estimated slowdown under PCT percent by pausing call "
                             "capture at times (the gaps are recorded and shown)")
    parser.add_argument("--offcpu", action="store_true",
                        help="also record when each thread is off CPU and why (sleep, lock, I/O, "
                             "preempted), attributed to the running Python call")
    parser.add_argument("--syscalls", nargs="?", const="all", metavar="LIST",
                        help="also record system calls (all, or a comma list such as read,write,futex) "
                             "with duration and return value, attributed to the running Python call")
    parser.add_argument("--tid", type=int, action="append", dest="tids", metavar="TID",
                        help="record calls and app events of this thread only (repeatable)")
    parser.add_argument("--pid", type=int, action="append", dest="only_pids", metavar="PID",
                        help="with children followed: record calls of this process only (repeatable)")
    parser.add_argument("--flight-recorder", metavar="WINDOW", type=parse_duration,
                        help="keep only the last WINDOW (e.g. 30s) in memory and write it when a "
                             "--trigger fires; nothing is written otherwise")
    parser.add_argument("--trigger", action="append", metavar="SPEC",
                        help="with --flight-recorder: exception, exception:TYPE, audit:EVENT, "
                             "slow:FUNC>100ms or signal (SIGUSR1 to scope); repeatable")
    parser.add_argument("--after", metavar="DURATION", type=parse_duration, default=2 * 10**9,
                        help="with --flight-recorder: go on recording this long after the trigger "
                             "(default 2s)")
    parser.add_argument("--lines", action="store_true",
                        help="also record every executed line (python:line: one trap per line, "
                             "heavy; denied on CPython 3.11, see --unsafe-probe)")
    parser.add_argument("--unsafe-probe", action="append", metavar="MARKER", dest="unsafe",
                        help="attach MARKER (e.g. python:line) although scope's deny list forbids it "
                             "on the target's CPython; prints a warning (repeatable)")
    parser.add_argument("--attach-mode", choices=("auto", "multi", "perf"), default=None,
                        help="how probes attach: uprobe_multi links (Linux 6.6+), one perf-event "
                             "uprobe per site (older kernels), or auto: what the kernel supports "
                             "(default; also $SCOPE_ATTACH_MODE)")
    parser.add_argument("--ebpf", action="store_true", help=argparse.SUPPRESS)


def parse_spill(text: str) -> int:
    """--max-spill: a size (an argparse type: the fix shown as argparse shows errors)."""
    try:
        return parse_size(text)
    except UsageError as exc:
        raise _argparse.ArgumentTypeError(f"{exc}; {exc.fix}") from None


def parse_write_every(text: str) -> int:
    """--write-every: a duration of at least 100 ms (each write is a segment file)."""
    ns = parse_duration(text)
    if ns < 100 * 10**6:
        raise _argparse.ArgumentTypeError(f"{text!r} is too short: each write makes a segment file; "
                                          "give 100ms or more")
    return ns


def call_filters(args) -> list[str]:
    """--function/--exclude as the shim reads them: "+glob" keep, "-glob" drop."""
    filters = [f"+{g}" for g in args.keep or ()] + [f"-{g}" for g in args.exclude or ()]
    if any(not f[1:] or "\0" in f for f in filters):
        raise UsageError("--function and --exclude take a non-empty glob", "e.g. --exclude '_*'")
    if sum(len(f.encode()) + 1 for f in filters) + 1 > header_constants()["SCOPE_FILTERS_MAX"]:
        raise UsageError("--function/--exclude globs are too long together (2 KiB at most)",
                         "use fewer or shorter globs")
    return filters


def flight_recorder(args):
    """--flight-recorder/--trigger/--after as given (usage errors first, before
    anything looks at the target); `check_flight` then checks them against it."""
    if args.flight_recorder is None:
        if args.trigger:
            raise UsageError("--trigger needs --flight-recorder WINDOW", "e.g. --flight-recorder 30s "
                             "--trigger exception")
        return None
    if args.flight_recorder <= 0:
        raise UsageError("--flight-recorder needs a positive window", "e.g. --flight-recorder 30s")
    if not args.trigger:
        raise UsageError("--flight-recorder needs at least one --trigger",
                         "e.g. --trigger exception, --trigger slow:handle>100ms or --trigger signal")
    return FlightRecorder(args.flight_recorder, args.after, [parse_trigger(t) for t in args.trigger])


def check_flight(flight, *, version: tuple[int, int], shim: bool):
    """What the target must offer for these triggers."""
    if flight is None:
        return None
    for t in flight.triggers:
        if t.kind in ("exception", "slow") and not shim:
            raise UsageError(f"--trigger {t.text} needs the shim (exceptions and call durations "
                             "come from it)", "add --inject (attach) or drop --no-shim (run)")
        if t.kind == "exception" and t.pattern and version < (3, 12):
            raise UsageError(f"--trigger {t.text}: CPython {version[0]}.{version[1]} does not tell "
                             "the exception's type", "use --trigger exception (any exception)")
    return flight


def program_config(args, *, follow: bool = False):
    mb = args.buffer_mb
    if mb <= 0 or mb & (mb - 1) or mb > 4096:
        raise UsageError(f"--buffer-mb {mb} is not a power of two between 1 and 4096",
                         "use e.g. --buffer-mb 16")
    if args.max_overhead is not None and not 0 < args.max_overhead <= 1000:
        raise UsageError(f"--max-overhead must be a percentage above 0, not {args.max_overhead:g}",
                         "e.g. --max-overhead 5")
    tids, pids = tuple(args.tids or ()), tuple(args.only_pids or ())
    if any(t <= 0 for t in tids + pids):
        raise UsageError("--tid and --pid take positive ids", "see `ps -T -p PID` for thread ids")
    syscalls = None if args.syscalls is None else parse_syscall_list(args.syscalls)
    return ProgramConfig(events_pages=mb * 256, offcpu=args.offcpu, follow=follow,
                         syscalls=syscalls, tids=tids, pids=pids,
                         code_filter=bool(args.keep or args.exclude),
                         attach="perf" if requested_mode(args.attach_mode) == "perf" else "multi")


def unsafe_markers(args) -> frozenset[str]:
    """--unsafe-probe's markers, checked for form before the target is looked at."""
    markers = frozenset(args.unsafe or ())
    for marker in sorted(markers):
        provider, _, name = marker.partition(":")
        if not provider or not name:
            raise UsageError(f"--unsafe-probe takes a marker as provider:name, not {marker!r}",
                             "e.g. --unsafe-probe python:line (see `scope doctor --pid PID`)")
    return markers


def probe_plan(args, target):
    """The probe plan for this target and these options; the deny list's overrides
    are announced on stderr, one warning line each."""
    allow = unsafe_markers(args)
    try:
        warnings = unsafe_request(target.version, target.markers, lines=args.lines, allow_unsafe=allow)
    except ValueError as exc:
        fix = exc.args[1] if len(exc.args) > 1 else ("drop the option; `scope doctor --pid PID` lists "
                                                     "the target's markers and what is denied")
        raise UsageError(exc.args[0], fix) from None
    for warning in warnings:
        print(warning, file=sys.stderr)
    return plan_probes(target.version, target.markers, lines=args.lines, allow_unsafe=allow)


def check_output(args) -> None:
    """-o, before anything else happens."""
    if args.output is not None and args.output.exists() and not args.output.is_dir():
        raise UsageError(f"output path {args.output} exists and is not a folder", "name a new or empty folder with -o")


def output_folder(args, pid: int) -> Path:
    if args.output is not None:
        if args.output.exists() and any(args.output.iterdir()):
            raise UsageError(f"output folder {args.output} is not empty",
                             "name a new or empty folder with -o")
        return args.output
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path("scope-recordings")
    folder = base / f"{stamp}-pid{pid}"
    n = 1
    while folder.exists():
        n += 1
        folder = base / f"{stamp}-pid{pid}-{n}"
    return folder


def attach_path(args, config):
    """The config with the attach path this kernel supports (asked of the kernel:
    probes/features.py), after check_privileges()."""

    features = detect()
    try:
        choice = choose(requested_mode(args.attach_mode), features)
    except ValueError as exc:
        raise EnvironmentProblem(*exc.args) from None
    return dataclasses.replace(config, attach=choice.mode, group_dead=features.group_dead)


def recording_options(args, config, flight) -> RecordingOptions:
    """The recording's options from the command line (attach and run alike)."""
    return RecordingOptions(config=config, duration=getattr(args, "duration", None),
                            min_duration_ns=args.min_duration, call_filters=tuple(call_filters(args)),
                            max_overhead=args.max_overhead, flight=flight,
                            write_every_s=args.write_every / 1e9, max_spill=args.max_spill,
                            max_backlog=args.max_backlog)


def check_privileges() -> None:
    """Preconditions checked once, before anything touches the target."""
    if os.geteuid() != 0:
        caps = 0
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    caps = int(line.split()[1], 16)
        needed = (1 << 38) | (1 << 39)  # CAP_PERFMON, CAP_BPF
        if caps & needed != needed:
            raise PermissionsError("recording needs root or CAP_BPF + CAP_PERFMON")
    try:
        import bcc  # noqa: F401
    except ImportError:
        raise EnvironmentProblem("the bcc Python module is not importable") from None


def print_summary(result, target) -> None:
    flight = result.meta.get("flight_recorder")
    if flight and not flight["fired"]:
        print(f"flight recorder: no trigger ({', '.join(flight['triggers'])}) fired in "
              f"{result.seconds:.2f} s; nothing written")
        return
    ev = result.events_by_kind
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(ev.items())) or "none"
    calls = result.calls_by_status
    completed = sum(calls.get(s, 0) for s in ("complete", "start_unseen", "raised"))
    drops = sum(result.drops.values())
    print(f"recorded pid {target.pid} ({shown(target.exe)}, CPython {target.version_text}) "
          f"for {result.seconds:.2f} s, stopped by {result.stop_reason}")
    print(f"  events   {result.events:,} ({kinds})")
    print(f"  calls    {completed:,} completed ({calls.get('start_unseen', 0):,} with start unseen), "
          f"{calls.get('raised', 0):,} raised, {calls.get('open', 0):,} open, "
          f"{calls.get('broken', 0):,} broken"
          + (f", {calls['ended']:,} ended with their process (exit or exec)" if calls.get("ended") else ""))
    for line in calls_source_lines(getattr(target, "calls", None) or {}):
        print(line)
    shim = result.meta.get("shim", {})
    if shim.get("loaded"):
        states = [t["state"] for t in shim.get("tracing", [])]
        if "refused" in states:
            print("  shim     call capture refused: the target already has a profiler set")
        elif "on" not in states:
            print("  shim     never switched call capture on (did the program start with "
                  "python -I or -E, or exit at once?)")
        swallowed = shim.get("errors") or {}
        if swallowed:
            print(f"  shim     {sum(swallowed.values()):,} failure(s) swallowed, none raised into the "
                  f"program ({', '.join(f'{k} {v:,}' for k, v in swallowed.items())})")
        spans = result.meta.get("counts", {}).get("spans", {})
        if spans:
            print(f"  spans    {sum(spans.values()):,}")
    for error in shim.get("ring_errors") or []:
        print(f"  ring     {shown(str(error))}: that ring was refused, the rest recorded")
    names = identity_line(result.meta.get("identity") or {})
    if names:
        print(names)
    gaps = result.meta.get("gaps") or []
    gov = result.meta.get("governor")
    if gov:
        paused = sum(g["end_ns"] - g["start_ns"] for g in gaps) / 1e9
        est = gov["estimated_overhead"]
        print(f"  overhead capture paused {len(gaps)} time(s), {paused:.2f} s in all, to stay under "
              f"{gov['max_overhead_pct']:g}%" + (f" (estimated {est:.1%})" if est is not None else ""))
    backlog_line = _backlog_line(result.meta)
    if backlog_line:
        print(backlog_line)
    print(f"  threads  {result.threads}")
    print(f"  dropped  {drops:,}" + (f" ({', '.join(f'{k} {v:,}' for k, v in result.drops.items() if v)})"
                                      if drops else ""))
    if flight and "left_out" in flight:
        start = result.meta["started_ns"]
        print(f"  flight   fired by {shown(flight['trigger'])} ({shown(flight['what'])}) at "
              f"{(flight['ts'] - start) / 1e9:.3f} s; kept {(flight['until_ns'] - flight['from_ns']) / 1e9:.1f} s "
              f"({flight['left_out']['events']:,} older events left out, as asked)")
    print(f"  written  {human_bytes(result.bytes_written)} in {result.folder}")
    for error in result.meta.get("errors", []):
        print(f"  error    {shown(str(error))} (the recording is complete up to it)")
    print(f"next: scope query {result.folder} --top")
    print(f"      scope query {result.folder} --slowest 10")
    print(f"      scope stats {result.folder}")
    print(f"      scope tui {result.folder}")


def _backlog_line(meta: dict) -> str | None:
    """How far indexing fell behind capture, when it did (collector/shimrings.py)."""
    backlog = (meta.get("shim") or {}).get("backlog") or {}
    after = meta.get("indexed_after_stop_s") or 0
    if not backlog.get("spilled_records") and after < 0.5:
        return None
    spilled = backlog.get("spilled_records", 0)
    return (f"  backlog  indexing ran {after:.1f} s after capture ended; peak "
            f"{human_bytes(backlog.get('memory_peak_bytes', 0))} in memory"
            + (f", {spilled:,} records spilled to disk (peak {human_bytes(backlog.get('spill_peak_bytes', 0))})"
               if spilled else ""))


def identity_line(identity: dict) -> str | None:
    """What telling same-named functions apart by their source did (collector/identity.py)."""
    apart, unresolved = identity.get("told_apart", 0), identity.get("unresolved") or {}
    if not apart and not unresolved:
        return None
    parts = [f"{apart:,} same-named function name(s) told apart by their source lines"] if apart else []
    if unresolved:
        parts.append(f"{sum(unresolved.values()):,} left by bare name ("
                     + ", ".join(f"{why} {n:,}" for why, n in sorted(unresolved.items())) + ")")
    return "  names    " + "; ".join(parts)


def calls_source_lines(calls: dict) -> list[str]:
    """The summary's word on where calls came from (probes/calls.py), and what
    the recording lacks without the shim and what would give it."""
    if not calls:
        return []
    if calls["source"] == "shim":
        return [] if calls["why"].startswith("preloaded") else [f"  shim     loaded by scope: {calls['why']}"]
    lines = []
    if calls.get("lacks"):
        lines.append(f"  lacks    {calls['lacks']}")
        failed = calls.get("injection_failed")
        give = "attach with --inject" if calls["why"] != "asked for (--no-shim)" else "drop --no-shim"
        lines.append(f"           the shim would give them, but could not be loaded: {shown(failed)}" if failed
                     else f"           the shim gives them: {give}" if "3.11 or newer" not in calls["why"]
                     else "           the shim, which needs CPython 3.11 or newer, would give them")
    return lines


def report_errors(result) -> bool:
    """One line on stderr when scope itself failed during the recording (kept in session.json)."""
    errors = result.meta.get("errors", [])
    lost = {k[len("not_written_"):]: v for k, v in result.meta.get("drops", {}).items()
            if k.startswith("not_written_") and v}
    if lost:
        cause = result.meta.get("write_failure") or "a write failed"
        print(f"scope: error: could not write all of the recording ({', '.join(f'{v:,} {k}' for k, v in lost.items())} "
              f"not written: {cause}); what reached {result.folder} is complete and readable, and the loss "
              "is counted in session.json", file=sys.stderr)
        return True
    if errors:
        print(f"scope: error: {len(errors)} internal error(s) while recording ({shown(str(errors[0]))}); the "
              f"recording in {result.folder} is complete up to them, details in session.json",
              file=sys.stderr)
    return bool(errors)
