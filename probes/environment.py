"""Can this machine run scope's probes? Each check says what fixes it."""
from __future__ import annotations

import os
from dataclasses import dataclass

from .features import TRACEPOINTS, choose, detect, requested_mode

SETUP = "run `make setup` (or `sudo ./setup.sh`) in the scope checkout"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _caps() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def check_privileges() -> Check:
    caps = _caps()
    names = {21: "CAP_SYS_ADMIN", 38: "CAP_PERFMON", 39: "CAP_BPF"}
    held = [n for bit, n in names.items() if caps >> bit & 1]
    ok = os.geteuid() == 0 or {"CAP_PERFMON", "CAP_BPF"} <= set(held)
    return Check("privileges", ok, f"euid {os.geteuid()}, holds {', '.join(held) or 'none'}",
                 "" if ok else "run scope as root: sudo scope …")


def check_kernel() -> list[Check]:
    release = os.uname().release
    btf = os.path.exists("/sys/kernel/btf/vmlinux")
    uprobe_pmu = os.path.exists("/sys/bus/event_source/devices/uprobe/type")
    tracefs = any(os.path.isdir(p) for p in ("/sys/kernel/tracing/events",
                                             "/sys/kernel/debug/tracing/events"))
    bpf = os.path.exists("/proc/sys/kernel/unprivileged_bpf_disabled")
    headers = os.path.isdir(f"/lib/modules/{release}/build/include") or \
        os.path.exists("/sys/kernel/kheaders.tar.xz")
    return [
        Check("kernel BPF", bpf, f"kernel {release}", "" if bpf else "use a kernel built with CONFIG_BPF_SYSCALL"),
        Check("uprobes", uprobe_pmu, "perf uprobe PMU" + ("" if uprobe_pmu else " missing"),
              "" if uprobe_pmu else "use a kernel built with CONFIG_UPROBE_EVENTS"),
        Check("tracefs", tracefs, "/sys/kernel/tracing" if tracefs else "not mounted",
              "" if tracefs else "mount -t tracefs nodev /sys/kernel/tracing"),
        Check("BTF", btf, "/sys/kernel/btf/vmlinux" if btf else "absent (optional)", ""),
        Check("kernel headers", headers, f"/lib/modules/{release}/build" if headers else "missing",
              "" if headers else SETUP + " (installs linux-headers-amd64 and links them)"),
    ]


def check_bcc() -> Check:
    try:
        import bcc
    except ImportError as exc:
        return Check("bcc", False, str(exc), SETUP + " (installs Debian's python3-bpfcc)")
    version = getattr(bcc, "__version__", "?")
    return Check("bcc", True, f"bcc {version} ({os.path.dirname(bcc.__file__)})")


def check_features() -> list[Check]:
    """What the running kernel offers scope, found by trying it (needs root), and
    the attach path that follows; each missing piece says what is lost."""
    if os.geteuid() != 0:
        return [Check("kernel features", False, "not probed: asking the kernel needs root", "run as root")]
    f = detect()
    checks = [
        Check("BPF ring buffer", f.ringbuf, "present (Linux 5.8+)" if f.ringbuf else
              "absent: scope needs it (Linux 5.8+)", "" if f.ringbuf else "run scope on Linux 5.8 or newer"),
        Check("uprobe_multi", True, "present: one link per binary (Linux 6.6+)" if f.uprobe_multi else
              "absent (Linux 6.6+): one perf-event uprobe per site instead; detaching is slower"),
        Check("uprobe ref_ctr", f.ref_ctr or f.uprobe_multi,
              "semaphores counted by the kernel (Linux 4.20+)" if f.ref_ctr else
              "absent: the perf path cannot raise the markers' semaphores safely", ""),
    ]
    for tp, lost in TRACEPOINTS.items():
        present = f.tracepoints[tp]
        checks.append(Check("tracepoint", True, tp + ("" if present else f" absent: {lost}")))
    checks.append(Check("exit group_dead", True, "sched_process_exit says which thread's exit ends the process"
                        if f.group_dead else "absent (older kernels, e.g. 6.1): the main thread's exit is taken "
                        "for the process's end, though another thread may still run a moment"))
    try:
        choice = choose(requested_mode(None), f)
        checks.append(Check("attach path", True, f"{choice.mode}: {choice.reason}"))
    except ValueError as exc:
        checks.append(Check("attach path", False, exc.args[0], exc.args[1]))
    return checks


def all_checks() -> list[Check]:
    return [check_privileges(), *check_kernel(), *check_features(), check_bcc()]
