"""Compile the eBPF program with bcc and attach it to marker sites of one process.

Every site is attached as a uprobe through perf_event_open with the marker's
semaphore passed as the kernel's reference counter (``ref_ctr_offset``): the
kernel raises the target's semaphore while the probe exists and lowers it when
the probe's file descriptor closes, so even a collector killed with SIGKILL
leaves no probe attached and no semaphore raised.
"""
from __future__ import annotations

import ctypes as ct
import os

from .program import ProgramConfig, SiteProgram, program_text
from ..errors import AttachError

_ATTACH = None


def _attach_fn():
    """libbcc's bpf_attach_uprobe with its ref_ctr_offset argument (bcc's Python omits it)."""
    global _ATTACH
    if _ATTACH is None:
        from bcc.libbcc import lib
        proto = ct.CFUNCTYPE(ct.c_int, ct.c_int, ct.c_int, ct.c_char_p, ct.c_char_p,
                             ct.c_ulonglong, ct.c_int, ct.c_uint32)
        _ATTACH = proto(("bpf_attach_uprobe", lib))
    return _ATTACH


class ProbeSet:
    """A compiled program attached to the sites of one process; detach() is idempotent."""

    def __init__(self, programs: list[SiteProgram], pid: int, config: ProgramConfig):
        self.programs = programs
        self.pid = pid
        self.config = config
        self.text = program_text(programs)
        self.bpf = None
        self._attached: list[tuple[int, bytes]] = []

    def attach(self) -> None:
        from bcc import BPF
        try:
            self.bpf = BPF(text=self.text, cflags=self.config.cflags())
        except Exception as exc:  # bcc raises bare Exception on compile/load failure
            raise AttachError(f"the eBPF program did not load: {exc}") from None
        try:
            for prog in self.programs:
                fn = self.bpf.load_func(prog.function.encode(), BPF.KPROBE)
                site = prog.site
                ev_name = f"scope_{os.getpid()}_{self.pid}_{prog.function}".encode()
                fd = _attach_fn()(fn.fd, 0, ev_name, site.path.encode(), site.offset,
                                  self.pid, site.semaphore_offset)
                if fd < 0:
                    if not os.path.exists(f"/proc/{self.pid}"):
                        raise AttachError(f"process {self.pid} exited while scope was attaching",
                                          "nothing was recorded; start scope again on a running process")
                    raise AttachError(f"could not attach {site.marker} in {site.path} "
                                      f"to process {self.pid}")
                self._attached.append((fd, ev_name))
            # the tracepoints attached themselves with the program; watch this process
            self.watch_process(self.pid)
        except BaseException:
            self.detach()
            raise

    def watch_process(self, pid: int) -> None:
        """Lifecycle (and off-CPU) tracepoints cover this process too."""
        self.bpf["targets"][ct.c_uint32(pid)] = ct.c_uint8(1)

    def detach_probes(self) -> None:
        """Remove the probes from the target; the maps stay readable until detach()."""
        if self.bpf is not None:
            for tp in list(self.bpf.tracepoint_fds):   # attached by bcc with the program (--offcpu)
                self.bpf.detach_tracepoint(tp)
        if self._attached:
            from bcc.libbcc import lib
            for fd, _ev_name in self._attached:
                # perf_event_open uprobes go away with their fd (no tracefs entry)
                lib.bpf_close_perf_event_fd(fd)
            self._attached.clear()

    def detach(self) -> None:
        self.detach_probes()
        if self.bpf is not None:
            self.bpf.cleanup()
            self.bpf = None

    def drop_counts(self) -> list[int]:
        """Events dropped in the kernel, per reason (summed over CPUs); zeros before attach."""
        if self.bpf is None:
            from .layout import header_constants
            return [0] * header_constants()["SCOPE_D_REASONS"]
        table = self.bpf["drops"]
        return [int(sum(table[ct.c_int(i)])) for i in range(len(table))]
