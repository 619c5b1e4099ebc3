"""What the running kernel supports, found by asking it (never by its version
string), and the attach path chosen from that.

Two paths attach the same records:
- "multi": one uprobe_multi BPF link per binary and process (Linux 6.6+), each
  site's index its cookie; a detach waits for one RCU grace period per link.
- "perf": one perf-event uprobe per site (Linux 4.20+ for the semaphore as
  the kernel's reference counter), each with a program of its own, so no
  attach cookie is needed (perf-event cookies came in 5.15; RHEL 9 has 5.14).
  A detach waits for a grace period per site: slower to stop, same guarantees.
In both the kernel raises the markers' semaphores while the probes exist and
lowers them when their file descriptors close, so a SIGKILLed scope leaves
nothing behind.

The BPF ring buffer (5.8) is required by every path: it is the minimum kernel.
"""
from __future__ import annotations

import ctypes as ct
import errno
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from .loader import (
    BPF_TRACE_UPROBE_MULTI,
    SYS_BPF,
    UPROBE_PMU,
    link_uprobe_multi,
    syscall,
)

BPF_MAP_CREATE, BPF_PROG_LOAD = 0, 5
BPF_MAP_TYPE_RINGBUF = 27
BPF_PROG_TYPE_KPROBE = 2
ATTR_SIZE = 128                # of union bpf_attr: as much as these probes fill, zeros after
MODES = ("auto", "multi", "perf")
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")   # where tracefs is mounted


@dataclass(frozen=True)
class Features:
    """What this kernel offers scope (each found by trying it)."""
    release: str
    ringbuf: bool          # BPF_MAP_TYPE_RINGBUF (5.8): every path needs it
    uprobe_multi: bool     # BPF_TRACE_UPROBE_MULTI links (6.6)
    uprobe_pmu: bool       # perf-event uprobes
    ref_ctr: bool          # the semaphore as the uprobe's reference counter (4.20)
    tracepoints: dict      # tracepoint -> present (lifecycle, --offcpu, --syscalls, --follow)
    group_dead: bool = True  # sched_process_exit says which thread's exit ends the process (newer kernels)


@dataclass(frozen=True)
class AttachChoice:
    mode: str              # "multi" or "perf"
    reason: str


def _bpf(cmd: int, *fields: tuple[int, str, int]) -> int:
    """The bpf() system call on a zeroed bpf_attr with (offset, struct format,
    value) fields packed in; its result or -errno."""
    attr = (ct.c_uint8 * ATTR_SIZE)()
    for offset, fmt, value in fields:
        struct.pack_into(fmt, attr, offset, value)
    return syscall(SYS_BPF, cmd, ct.byref(attr), ATTR_SIZE)


def probe_ringbuf() -> bool:
    """A BPF ring buffer map can be created (Linux 5.8)."""
    # BPF_MAP_CREATE: map_type, key_size, value_size, max_entries (one page)
    fd = _bpf(BPF_MAP_CREATE, (0, "=I", BPF_MAP_TYPE_RINGBUF), (12, "=I", 4096))
    if fd >= 0:
        os.close(fd)
    return fd >= 0


def probe_uprobe_multi() -> bool:
    """As libbpf does: a program loaded for uprobe_multi, linked to the offset 0 of
    "/" — a kernel with uprobe_multi refuses that path with EBADF, one without
    refuses the program or the attach type with EINVAL."""
    insns = (ct.c_uint64 * 2)(0x00000000000000B7, 0x0000000000000095)   # r0 = 0; exit
    lic = ct.create_string_buffer(b"GPL")
    # BPF_PROG_LOAD: prog_type, insn_cnt, insns, license; expected_attach_type at
    # byte 68 (after log_level/size/buf, kern_version, prog_flags, prog_name[16], ifindex)
    prog = _bpf(BPF_PROG_LOAD, (0, "=I", BPF_PROG_TYPE_KPROBE), (4, "=I", 2), (8, "=Q", ct.addressof(insns)),
                (16, "=Q", ct.addressof(lic)), (68, "=I", BPF_TRACE_UPROBE_MULTI))
    if prog < 0:
        return False
    try:
        fd = link_uprobe_multi(prog, "/", [0], [0], 0)
        if fd >= 0:
            os.close(fd)
            return False          # "/" attached: not the kernel libbpf knows; do not trust it
        return -fd == errno.EBADF
    finally:
        os.close(prog)


def _tracepoint(name: str) -> bool:
    return any(os.path.isdir(f"{root}/events/{name}") for root in TRACEFS)


# the tracepoints scope attaches, and what is lost without each
TRACEPOINTS = {
    "sched/sched_process_exec": "exec of a recorded process not seen",
    "sched/sched_process_exit": "process and thread ends not seen",
    "task/task_newtask": "threads and children not seen (--follow impossible)",
    "sched/sched_switch": "--offcpu impossible",
    "raw_syscalls/sys_enter": "--syscalls and --offcpu reasons impossible",
    "raw_syscalls/sys_exit": "--syscalls impossible",
}


def tracepoint_field(name: str, field: str) -> bool:
    """Does the tracepoint's format (as this kernel defines it) have `field`?"""
    for root in TRACEFS:
        try:
            return f" {field};" in open(f"{root}/events/{name}/format").read()
        except OSError:
            continue
    return False


def detect() -> Features:
    """Ask the running kernel (needs root, as recording does)."""
    fmt = f"{UPROBE_PMU}/format/ref_ctr_offset"
    ref_ctr = os.path.exists(fmt) and Path(fmt).read_text().strip().startswith("config:32")
    return Features(release=os.uname().release, ringbuf=probe_ringbuf(), uprobe_multi=probe_uprobe_multi(),
                    uprobe_pmu=os.path.exists(f"{UPROBE_PMU}/type"), ref_ctr=ref_ctr,
                    tracepoints={tp: _tracepoint(tp) for tp in TRACEPOINTS},
                    group_dead=tracepoint_field("sched/sched_process_exit", "group_dead"))


def choose(requested: str, f: Features) -> AttachChoice:
    """The attach path for `requested` ("auto", "multi" or "perf") on a kernel
    with features `f`; raises ValueError (the message, the fix) when none fits."""
    if requested not in MODES:
        raise ValueError(f"attach mode {requested!r} is not one of {', '.join(MODES)}",
                         "use --attach-mode auto (the default), multi or perf")
    if not f.ringbuf:
        raise ValueError(f"kernel {f.release} has no BPF ring buffer (Linux 5.8+), which scope needs",
                         "run scope on Linux 5.8 or newer")
    perf_ok = f.uprobe_pmu and f.ref_ctr
    perf_why = ("" if perf_ok else "no perf uprobe PMU" if not f.uprobe_pmu
                else "no semaphore reference counters for uprobes (Linux 4.20+)")
    if requested == "multi" and not f.uprobe_multi:
        raise ValueError(f"--attach-mode multi: kernel {f.release} has no uprobe_multi links (Linux 6.6+)",
                         "use --attach-mode auto or perf")
    if requested == "perf" and not perf_ok:
        raise ValueError(f"--attach-mode perf: kernel {f.release} has {perf_why}", "use --attach-mode auto")
    if requested == "multi" or (requested == "auto" and f.uprobe_multi):
        return AttachChoice("multi", "uprobe_multi links: one per binary, fast to detach"
                            + (" (asked for)" if requested == "multi" else ""))
    if perf_ok:
        return AttachChoice("perf", "one perf-event uprobe per site"
                            + (" (asked for)" if requested == "perf" else
                               f": kernel {f.release} has no uprobe_multi links (Linux 6.6+)"))
    raise ValueError(f"kernel {f.release} has neither uprobe_multi links nor {perf_why.replace('no ', '', 1)}",
                     "run scope on Linux 5.8 or newer built with CONFIG_UPROBE_EVENTS")


def requested_mode(option: str | None) -> str:
    """--attach-mode, else $SCOPE_ATTACH_MODE, else auto."""
    return option or os.environ.get("SCOPE_ATTACH_MODE") or "auto"
