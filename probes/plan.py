"""The probe plan: which of a target's USDT markers scope attaches, and why.

Pure: the inputs are the CPython version and the markers found in its ELF
notes; the output says for every marker whether it is used and the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

# marker -> (eBPF handler, number of arguments it takes)
HANDLERS = {
    "python:function__entry": ("on_function_entry", 3),
    "python:function__return": ("on_function_return", 3),
    "python:gc__start": ("on_gc_start", 1),
    "python:gc__done": ("on_gc_done", 1),
    "python:import__find__load__start": ("on_import_start", 1),
    "python:import__find__load__done": ("on_import_done", 2),
    "python:audit": ("on_audit", 2),
    "python:line": ("on_line", 3),
    "scope:call": ("on_shim_call", 5),
    "scope:ret": ("on_shim_ret", 6),
    "scope:mark": ("on_shim_mark", 4),
    "scope:state": ("on_shim_state", 4),
    "scope:span_begin": ("on_shim_span_begin", 6),
    "scope:span_end": ("on_shim_span_end", 2),
    "scope:send": ("on_shim_send", 2),
    "scope:recv": ("on_shim_recv", 2),
    "scope:tracing": ("on_shim_tracing", 2),
    "scope:code": ("on_shim_code", 5),
    "scope:ring": ("on_shim_ring", 3),
    "scope:error": ("on_shim_error", 2),
    "uprobe:_Py_MakeCoro": ("on_generator_made", 0),   # probes/usdt.py's FUNCTION_PROBES
}
GENERATOR_MADE = "uprobe:_Py_MakeCoro"
# trailing arguments later shims added: a process still running an older shim
# has sites without them, and its handler gets 0 there
ADDED_ARGS = {"scope:code": 1, "scope:ring": 1}
# the interpreter's own call markers, replaced by the shim's when it is there
BUILTIN_CALLS = ("python:function__entry", "python:function__return")

# Markers that harm the target, by CPython (major, minor). Only --unsafe-probe
# lifts an entry, and the command says so on stderr. Reviewed for 3.14 and
# 3.15 (Debian's builds): neither has a line marker; their audit, gc and import
# markers, and 3.15's call markers, record without harm and without changing
# the program's output (tests/integration/test_container.py).
DENY = {
    ("python:line", (3, 11)): ("a trap on every executed line slows CPython 3.11 many times over, "
                               "and attaching it was seen to crash 3.11"),
}
LINE = "python:line"   # opt-in: --lines asks for it


def denied(version: tuple[int, int], marker: str) -> str | None:
    """Why `marker` must not be attached to this CPython, or None."""
    return DENY.get((marker, tuple(version[:2])))


@dataclass(frozen=True)
class ProbeChoice:
    marker: str
    use: bool
    reason: str


def plan_probes(version: tuple[int, int], markers: list[str], *, lines: bool = False,
                allow_unsafe: frozenset[str] = frozenset()) -> list[ProbeChoice]:
    """Decide, for every marker the target has, whether to attach it.

    `lines` asks for the opt-in line marker; `allow_unsafe` names markers to
    attach although the deny list forbids them on this version."""
    choices = []
    shim = "scope:call" in markers
    ring = "scope:ring" in markers
    for marker in sorted(set(markers)):
        deny = denied(version, marker)
        if ring and marker in ("scope:call", "scope:ret"):
            choices.append(ProbeChoice(marker, False, "calls arrive through the shim's shared-memory "
                                                      "ring (no trap per call)"))
            continue
        if marker == "scope:ring":
            choices.append(ProbeChoice(marker, True, "asks the shim to write calls into shared memory"))
            continue
        if shim and marker in BUILTIN_CALLS:
            choices.append(ProbeChoice(marker, False, "the shim reports calls (with yield, resume and "
                                                      "exception flags); not counted twice"))
            continue
        if marker == "scope:tracing":
            choices.append(ProbeChoice(marker, True, "attaching it switches on the shim's complete "
                                                     "call capture"))
            continue
        if marker == GENERATOR_MADE:
            choices.append(_generator_made(version, markers, shim))
            continue
        if marker == LINE and not lines:
            choices.append(ProbeChoice(marker, False, "opt-in (--lines)"))
        elif deny and marker not in allow_unsafe:
            choices.append(ProbeChoice(marker, False, f"denied: {deny}"))
        elif deny:
            choices.append(ProbeChoice(marker, True, f"UNSAFE, attached as asked (--unsafe-probe): {deny}"))
        elif marker not in HANDLERS:
            choices.append(ProbeChoice(marker, False, "not a marker scope records"))
        elif marker == "python:function__entry" and version[:2] <= (3, 11):
            choices.append(ProbeChoice(
                marker, True,
                "fires only while a profile/trace function is set; returns alone still "
                "count every completed call"))
        else:
            choices.append(ProbeChoice(marker, True, "recorded"))
    return choices


def _generator_made(version: tuple[int, int], markers: list[str], shim: bool) -> ProbeChoice:
    """CPython 3.12+ runs a generator function's frame only to create its
    generator (RETURN_GENERATOR, before RESUME); 3.15's entry marker fires for
    it (its return marker does not), so without this probe the call stays open
    and its caller's later calls nest under it."""
    if shim:
        return ProbeChoice(GENERATOR_MADE, False, "the shim reports calls (generators by their flags)")
    if "python:function__entry" in markers and tuple(version[:2]) >= (3, 12):
        return ProbeChoice(GENERATOR_MADE, True, "ends the call of a generator function whose frame only "
                                                 "created its generator (it has an entry marker, no return)")
    return ProbeChoice(GENERATOR_MADE, False, "needed only with the call markers of CPython 3.12+")


def unsafe_request(version: tuple[int, int], markers: list[str], *, lines: bool,
                   allow_unsafe: frozenset[str]) -> list[str]:
    """Check --lines and --unsafe-probe against this target; the warnings to print.

    Raises ValueError with the line to show when the request cannot stand: an
    opt-in marker the deny list forbids without the override, or an override
    that overrides nothing (a typo must not pass silently)."""
    text = ".".join(map(str, version[:2]))
    warnings = []
    for marker in sorted(allow_unsafe):
        why = denied(version, marker)
        if why is None:
            raise ValueError(f"--unsafe-probe {marker}: nothing to override, the deny list has no "
                             f"entry for {marker} on CPython {text}")
        if marker == LINE and not lines:
            raise ValueError(f"--unsafe-probe {marker} without --lines: nothing asks for {marker}")
        warnings.append(f"scope: warning: attaching {marker} although it is on the deny list for "
                        f"CPython {text} ({why}); you asked for it with --unsafe-probe")
    if lines and LINE not in markers:
        raise ValueError(f"--lines needs the {LINE} marker, which this CPython {text} lacks")
    if lines and LINE not in allow_unsafe and denied(version, LINE):
        raise ValueError(f"--lines: {LINE} is on the deny list for CPython {text} ({denied(version, LINE)})",
                         f"add --unsafe-probe {LINE} to attach it anyway, at your target's risk")
    return warnings
