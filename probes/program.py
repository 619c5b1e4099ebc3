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
from .plan import ADDED_ARGS, GENERATOR_MADE, HANDLERS
from .usdt import UsdtSite

PROBES_DIR = Path(__file__).parent
SOURCE = PROBES_DIR / "python_usdt.bpf.c"


@dataclass(frozen=True)
class SiteGroup:
    """Marker sites of one binary, attached together as one uprobe_multi link.

    A site's position in ``sites`` is its attach cookie: the group's entry
    point dispatches on it to the site's argument reader and handler."""
    path: str
    sites: tuple[UsdtSite, ...]
    function: str   # name of the generated eBPF entry point
    calls: bool     # the call/return sites (their own link: --max-overhead pauses them)


@dataclass(frozen=True)
class ProgramConfig:
    events_pages: int = 4096      # 16 MiB ring: ~400k events of headroom between polls
    names_pages: int = 512
    app_pages: int = 1024
    codes_max: int = 65536
    texts_max: int = 16384      # module and audit names, interned by text
    offcpu: bool = False        # sched_switch + syscall tracepoints for off-CPU intervals
    follow: bool = False        # follow forked children (held stopped until attached)
    syscalls: tuple[int, ...] | None = None   # None: not recorded; (): all; else these numbers
    tids: tuple[int, ...] = ()                # --tid: only these threads
    pids: tuple[int, ...] = ()                # --pid: only these processes
    code_filter: bool = False   # --function/--exclude: the collector fills code_drop
    attach: str = "multi"       # the attach path (probes/features.py): "multi" or "perf"
    group_dead: bool = True     # sched_process_exit has group_dead (not on 6.1: probes/features.py)

    def cflags(self) -> list[str]:
        for pages in (self.events_pages, self.names_pages, self.app_pages):
            if pages <= 0 or pages & (pages - 1):
                raise ValueError("ring buffer sizes must be a power of two pages")
        flags = [f"-I{PROBES_DIR}", f"-DEVENTS_PAGES={self.events_pages}",
                 f"-DNAMES_PAGES={self.names_pages}", f"-DAPP_PAGES={self.app_pages}",
                 f"-DCODES_MAX={self.codes_max}", f"-DTEXTS_MAX={self.texts_max}"]
        switches = {"-DSCOPE_OFFCPU": self.offcpu, "-DSCOPE_FOLLOW": self.follow,
                    "-DSCOPE_SYSCALLS": self.syscalls is not None,
                    "-DSCOPE_SYSCALL_FILTER": bool(self.syscalls),
                    "-DSCOPE_TID_FILTER": bool(self.tids),
                    "-DSCOPE_PID_FILTER": bool(self.pids),
                    "-DSCOPE_CODE_FILTER": self.code_filter,
                    "-DSCOPE_GROUP_DEAD": self.group_dead}
        return flags + [flag for flag, on in switches.items() if on]


CALL_MARKERS = ("python:function__entry", "python:function__return", "scope:call", "scope:ret", GENERATOR_MADE)


def site_groups(sites: list[UsdtSite]) -> list[SiteGroup]:
    """Group sites by binary (call sites apart from the rest), in attach order."""
    # scope:tracing last: raising its semaphore flips the shim's switch, and by
    # then every other request (the ring above all) must already be visible
    ordered = sorted(sites, key=lambda s: s.marker == "scope:tracing")
    by_key: dict[tuple[str, bool], list[UsdtSite]] = {}
    for site in ordered:
        by_key.setdefault((site.path, site.marker in CALL_MARKERS), []).append(site)
    return [SiteGroup(path, tuple(group), f"scope_binary_{i}", calls)
            for i, ((path, calls), group) in enumerate(by_key.items())]


def _site_call(site: UsdtSite) -> str:
    handler, nargs = HANDLERS[site.marker]
    have = min(len(site.args), nargs)
    if have < nargs - ADDED_ARGS.get(site.marker, 0):
        raise ValueError(f"{site.marker} at {site.address:#x} has {len(site.args)} arguments, "
                         f"expected {nargs}")
    try:
        args = [c_expression(spec) for spec in site.args[:have]] + ["0"] * (nargs - have)
    except ArgSpecError as exc:
        raise AttachError(f"cannot read the arguments of {site.marker} in {site.path}: {exc}") from None
    return f"{handler}({', '.join(['ctx'] + args)})"


def site_function(group: SiteGroup, index: int) -> str:
    """The entry point of one site (the perf attach path: a program per site)."""
    return f"{group.function}_s{index}"


def generator_probe(groups: list[SiteGroup]) -> bool:
    """Whether the plan ends generator creations (probes/plan.py: GENERATOR_MADE)."""
    return any(site.marker == GENERATOR_MADE for group in groups for site in group.sites)


def program_text(groups: list[SiteGroup], per_site: bool = False) -> str:
    """The full C program: the shared handlers plus one entry point per binary
    that dispatches on the attach cookie (uprobe_multi), or with `per_site` one
    entry point per site (perf-event uprobes, which need no cookie)."""
    # bcc derives tracepoint argument structs from the main text only: inline, don't #include
    source = SOURCE.read_text().replace('#include "kernel.bpf.c"', (PROBES_DIR / "kernel.bpf.c").read_text())
    # the entry handler remembers each thread's last entry only where a
    # generator's creation must end it (probes/plan.py: GENERATOR_MADE)
    parts = ["#define SCOPE_GENERATORS 1\n" if generator_probe(groups) else "", source,
             "\n/* generated: one entry point per binary, one case per marker site */\n"]
    for group in groups:
        if per_site:
            parts.extend(f"/* {group.path}: {site.marker} @ {site.offset:#x} */\n"
                         f"int {site_function(group, i)}(struct pt_regs *ctx)\n{{\n"
                         f"    return {_site_call(site)};\n}}\n" for i, site in enumerate(group.sites))
            continue
        cases = "".join(f"    case {i}:   /* {site.marker} @ {site.offset:#x} */\n"
                        f"        return {_site_call(site)};\n" for i, site in enumerate(group.sites))
        parts.append(f"/* {group.path} */\n"
                     f"int {group.function}(struct pt_regs *ctx)\n{{\n"
                     f"    switch (scope_site(ctx)) {{\n{cases}    }}\n    return 0;\n}}\n")
    return "".join(parts)
