"""Can this machine run scope's probes? Each check says what fixes it."""
from __future__ import annotations

import os
from dataclasses import dataclass

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


def all_checks() -> list[Check]:
    return [check_privileges(), *check_kernel(), check_bcc()]
