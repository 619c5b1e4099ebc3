"""Compile the eBPF program with bcc and attach it to the marker sites of processes.

Two attach paths (probes/features.py chooses by asking the kernel):
- "multi": the sites of each binary are attached to one process as one
  uprobe_multi BPF link (Linux 6.6+), each with the marker's semaphore as the
  kernel's reference counter (``ref_ctr_offsets``) and its index as the
  cookie. One link per binary also makes detaching fast: each detach waits
  for one RCU grace period.
- "perf": one perf-event uprobe per site (``ref_ctr_offset`` in the config's
  high 32 bits, Linux 4.20+) running a program of that site's own, so no
  cookie is needed (Linux 5.8+, the BPF ring buffer, is the floor).
Either way the kernel raises the target's semaphores while the probes exist
and lowers them when their file descriptors close, so even a collector killed
with SIGKILL leaves no probe attached and no semaphore raised.
"""
from __future__ import annotations

import ctypes as ct
import errno
import fcntl
import functools
import os
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

from ..errors import AttachError
from .layout import header_constants
from .program import (
    ProgramConfig,
    SiteGroup,
    generator_probe,
    program_text,
    site_function,
)

SYS_BPF = 321                        # x86-64
PERF_EVENT_OPEN = 298
BPF_LINK_CREATE = 28
BPF_TRACE_UPROBE_MULTI = 48
UPROBE_PMU = "/sys/bus/event_source/devices/uprobe"
PERF_FLAG_FD_CLOEXEC = 8
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_SET_BPF = 0x40042408


def syscall(nr: int, *args) -> int:
    """A raw system call (bpf, perf_event_open): its result, or -errno."""
    libc = ct.CDLL(None, use_errno=True)
    libc.syscall.restype = ct.c_long
    ret = libc.syscall(nr, *args)
    return int(ret) if ret >= 0 else -ct.get_errno()


class _UprobeMultiAttr(ct.Structure):
    """union bpf_attr for BPF_LINK_CREATE, its uprobe_multi member (linux/bpf.h)."""
    _fields_ = [("prog_fd", ct.c_uint32), ("target_fd", ct.c_uint32), ("attach_type", ct.c_uint32),
                ("flags", ct.c_uint32), ("path", ct.c_uint64), ("offsets", ct.c_uint64),
                ("ref_ctr_offsets", ct.c_uint64), ("cookies", ct.c_uint64), ("cnt", ct.c_uint32),
                ("multi_flags", ct.c_uint32), ("pid", ct.c_uint32), ("_rest", ct.c_uint8 * 68)]


def link_uprobe_multi(prog_fd: int, path: str, offsets: list[int], ref_ctrs: list[int],
                      pid: int) -> int:
    """One link attaching prog_fd to every offset of path in process pid; -errno on failure."""
    n = len(offsets)
    c_path = ct.create_string_buffer(path.encode())
    c_offs = (ct.c_uint64 * n)(*offsets)
    c_refs = (ct.c_uint64 * n)(*ref_ctrs)
    c_cookies = (ct.c_uint64 * n)(*range(n))
    attr = _UprobeMultiAttr(prog_fd=prog_fd, attach_type=BPF_TRACE_UPROBE_MULTI,
                            path=ct.addressof(c_path), offsets=ct.addressof(c_offs),
                            ref_ctr_offsets=ct.addressof(c_refs), cookies=ct.addressof(c_cookies),
                            cnt=n, pid=pid)
    return syscall(SYS_BPF, BPF_LINK_CREATE, ct.byref(attr), ct.sizeof(attr))


@functools.cache
def uprobe_pmu_type() -> int:
    """The perf PMU type of uprobes on this kernel (read once)."""
    with open(f"{UPROBE_PMU}/type") as fh:
        return int(fh.read())


def open_uprobe(prog_fd: int, path: str, offset: int, ref_ctr: int, pid: int) -> int:
    """A perf-event uprobe at `offset` of `path` in process `pid`, running prog_fd,
    with the semaphore at file offset `ref_ctr` (0: none) as its reference
    counter; -errno on failure."""
    c_path = ct.create_string_buffer(path.encode())
    attr = (ct.c_uint8 * 136)()
    # perf_event_attr: type, size, config (ref_ctr_offset in bits 32-63), sample_period,
    # ...; flags at 40 (bit 0: disabled); uprobe_path (config1) at 56, offset (config2) at 64
    struct.pack_into("=IIQQ", attr, 0, uprobe_pmu_type(), 136, ref_ctr << 32, 1)
    struct.pack_into("=Q", attr, 40, 1)
    struct.pack_into("=QQ", attr, 56, ct.addressof(c_path), offset)
    fd = syscall(PERF_EVENT_OPEN, ct.byref(attr), pid, -1, -1, PERF_FLAG_FD_CLOEXEC)
    if fd < 0:
        return fd
    try:
        fcntl.ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd)
        fcntl.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
    except OSError as exc:
        os.close(fd)
        return -(exc.errno or 1)
    return fd


def _close_all(fds: list[int]) -> None:
    """A link goes away with its fd; each close waits for an RCU grace period
    (tens of ms), so the links of many processes close side by side."""
    if fds:
        with ThreadPoolExecutor(max_workers=min(32, len(fds))) as pool:
            list(pool.map(os.close, fds))


class ProbeSet:
    """A compiled program attached to the sites of one process; detach() is idempotent."""

    def __init__(self, groups: list[SiteGroup], pid: int, config: ProgramConfig):
        self.groups = groups
        self.pid = pid
        self.config = config
        self.mode = config.attach          # "multi" or "perf" (probes/features.py)
        self.text = program_text(groups, per_site=self.mode == "perf")
        self.bpf = None
        self._links: dict[tuple[int, str], list[int]] = {}   # (pid, binary's entry point) -> fds
        self._pids: list[int] = []
        self.calls_on = True
        self._lock = threading.Lock()   # the governor's thread switches call links (set_calls)
        self._loaded: dict[str, int] = {}   # entry point -> program fd

    def attach(self) -> None:
        from bcc import BPF  # bcc (LLVM) is read only when probes are loaded: the heaviest import
        try:
            self.bpf = BPF(text=self.text, cflags=self.config.cflags())
        except Exception as exc:  # noqa: BLE001 — bcc raises bare Exception on compile/load failure
            raise AttachError(f"the eBPF program did not load: {exc}") from None
        try:
            self._fill_maps()
            self.attach_pid(self.pid)
            # the tracepoints attached themselves with the program; watch this process
            self.watch_process(self.pid)
        except BaseException:
            self.detach()
            raise

    def _fill_maps(self) -> None:
        one = ct.c_uint8(1)
        for tid in self.config.tids:
            self.bpf["only_tids"][ct.c_uint32(tid)] = one
        for pid in self.config.pids:
            self.bpf["only_pids"][ct.c_uint32(pid)] = one
        for nr in self.config.syscalls or ():
            self.bpf["syscall_filter"][ct.c_uint32(nr)] = one

    def attach_pid(self, pid: int) -> None:
        """Attach every site for one process (the target, or a child it forked)."""
        with self._lock:
            self._pids.append(pid)
            for group in self.groups:
                if self.calls_on or not group.calls:
                    self._link(group, pid)

    def _program(self, name: str, attach_type: int = -1) -> int:
        """The loaded entry point's fd (-1: no expected attach type, bcc's default)."""
        if name not in self._loaded:
            from bcc import BPF  # as in attach: bcc only with probes
            self._loaded[name] = self.bpf.load_func(name.encode(), BPF.KPROBE, None, attach_type).fd
        return self._loaded[name]

    def _link(self, group: SiteGroup, pid: int) -> None:
        if self.mode == "perf":
            fds: list[int] = []
            for i, site in enumerate(group.sites):
                fd = open_uprobe(self._program(site_function(group, i)), site.path, site.offset,
                                 site.semaphore_offset, pid)
                if fd < 0:
                    _close_all(fds)
                    self._refuse(group, pid, fd, "perf-event uprobes")
                fds.append(fd)
            self._links[(pid, group.function)] = fds
            return
        fd = link_uprobe_multi(self._program(group.function, BPF_TRACE_UPROBE_MULTI), group.path,
                               [s.offset for s in group.sites],
                               [s.semaphore_offset for s in group.sites], pid)
        if fd < 0:
            self._refuse(group, pid, fd, "uprobe_multi links")
        self._links[(pid, group.function)] = [fd]

    @staticmethod
    def _refuse(group: SiteGroup, pid: int, fd: int, how: str) -> None:
        """The one clear error for a failed attach (fd: -errno)."""
        if fd < 0:
            if -fd == errno.ESRCH or not os.path.exists(f"/proc/{pid}"):
                raise AttachError(f"process {pid} exited while scope was attaching",
                                  "nothing was recorded; start scope again on a running process")
            if -fd == errno.EINVAL:
                raise AttachError(f"could not attach the probes of {group.path} to process {pid}: "
                                  "another tracer holds probes on the same markers without their "
                                  "semaphores as reference counters",
                                  "stop the other tool (bcc's pythonflow, uflow, ucalls…) and retry")
            raise AttachError(f"could not attach the probes of {group.path} to process {pid} "
                              f"through {how}: {os.strerror(-fd)}",
                              "`scope doctor` checks the machine; --attach-mode perf or multi "
                              "chooses the other path")

    def set_calls(self, on: bool) -> None:
        """Attach or detach the call/return sites of every process (--max-overhead)."""
        with self._lock:
            if on == self.calls_on or self.bpf is None:
                return
            self.calls_on = on
            calls = [g for g in self.groups if g.calls]
            if on:
                for pid in self._pids:
                    for group in calls:
                        try:
                            self._link(group, pid)
                        except AttachError:
                            pass      # the process has ended
            else:
                _close_all([fd for pid in self._pids for g in calls if (pid, g.function) in self._links
                            for fd in self._links.pop((pid, g.function))])
                if generator_probe(self.groups):
                    # an entry seen before the pause must not be ended by a
                    # generator created after it
                    self.bpf["last_entry"].clear()

    def drop_code(self, code_ids) -> None:
        """--function/--exclude: the kernel stops reporting calls of these code ids."""
        table = self.bpf["code_drop"]
        for code in code_ids:
            table[ct.c_uint32(code)] = ct.c_uint8(1)

    def watch_process(self, pid: int) -> None:
        """Lifecycle (and off-CPU) tracepoints cover this process too."""
        self.bpf["targets"][ct.c_uint32(pid)] = ct.c_uint8(1)

    def detach_probes(self) -> None:
        """Remove the probes from the target; the maps stay readable until detach()."""
        if self.bpf is not None:
            for tp in list(self.bpf.tracepoint_fds):   # attached by bcc with the program (--offcpu)
                self.bpf.detach_tracepoint(tp)
        with self._lock:
            _close_all([fd for fds in self._links.values() for fd in fds])
            self._links.clear()
            self._pids.clear()

    def detach(self) -> None:
        self.detach_probes()
        if self.bpf is not None:
            self.bpf.cleanup()
            self.bpf = None

    def drop_counts(self) -> list[int]:
        """Events dropped in the kernel, per reason (summed over CPUs); zeros before attach."""
        if self.bpf is None:
            return [0] * header_constants()["SCOPE_D_REASONS"]
        table = self.bpf["drops"]
        return [int(sum(table[ct.c_int(i)])) for i in range(len(table))]
