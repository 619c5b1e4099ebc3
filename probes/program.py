"""Build the eBPF program text for a probe plan (pure; no bcc needed).

The C logic lives in python_usdt.bpf.c; this appends one small entry point per
marker site that reads that site's arguments (their registers differ from site
to site) and calls the shared handler.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import AttachError
from .argspec import ArgSpecError, c_expression
from .plan import HANDLERS
from .usdt import UsdtSite

PROBES_DIR = Path(__file__).parent
SOURCE = PROBES_DIR / "python_usdt.bpf.c"


@dataclass(frozen=True)
class SiteProgram:
    site: UsdtSite
    function: str   # name of the generated eBPF entry point


@dataclass(frozen=True)
class ProgramConfig:
    events_pages: int = 4096      # 16 MiB ring: ~400k events of headroom between polls
    names_pages: int = 512
    app_pages: int = 1024
    codes_max: int = 65536
    offcpu: bool = False        # sched_switch + syscall tracepoints for off-CPU intervals

    def cflags(self) -> list[str]:
        for pages in (self.events_pages, self.names_pages, self.app_pages):
            if pages <= 0 or pages & (pages - 1):
                raise ValueError("ring buffer sizes must be a power of two pages")
        return [f"-I{PROBES_DIR}", f"-DEVENTS_PAGES={self.events_pages}",
                f"-DNAMES_PAGES={self.names_pages}", f"-DAPP_PAGES={self.app_pages}",
                f"-DCODES_MAX={self.codes_max}"] + (["-DSCOPE_OFFCPU"] if self.offcpu else [])


def site_programs(sites: list[UsdtSite]) -> list[SiteProgram]:
    # scope:tracing last: raising its semaphore flips the shim's switch, and by
    # then every other request (the ring above all) must already be visible
    ordered = sorted(sites, key=lambda s: s.marker == "scope:tracing")
    return [SiteProgram(site, f"scope_site_{i}") for i, site in enumerate(ordered)]


def program_text(programs: list[SiteProgram]) -> str:
    """The full C program: the shared handlers plus one entry point per site."""
    # bcc derives tracepoint argument structs from the main text only: inline, don't #include
    source = SOURCE.read_text().replace('#include "kernel.bpf.c"', (PROBES_DIR / "kernel.bpf.c").read_text())
    parts = [source, "\n/* generated: one entry point per marker site */\n"]
    for prog in programs:
        handler, nargs = HANDLERS[prog.site.marker]
        if len(prog.site.args) < nargs:
            raise ValueError(f"{prog.site.marker} at {prog.site.address:#x} has "
                             f"{len(prog.site.args)} arguments, expected {nargs}")
        try:
            args = ", ".join(c_expression(spec) for spec in prog.site.args[:nargs])
        except ArgSpecError as exc:
            raise AttachError(f"cannot read the arguments of {prog.site.marker} in "
                              f"{prog.site.path}: {exc}") from None
        parts.append(f"/* {prog.site.marker} @ {prog.site.path}+{prog.site.offset:#x} */\n"
                     f"int {prog.function}(struct pt_regs *ctx)\n"
                     f"{{\n    return {handler}(ctx, {args});\n}}\n")
    return "".join(parts)
