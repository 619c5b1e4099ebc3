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
    "scope:call": ("on_shim_call", 5),
    "scope:ret": ("on_shim_ret", 6),
    "scope:mark": ("on_shim_mark", 4),
    "scope:state": ("on_shim_state", 4),
    "scope:span_begin": ("on_shim_span_begin", 6),
    "scope:span_end": ("on_shim_span_end", 2),
    "scope:send": ("on_shim_send", 2),
    "scope:recv": ("on_shim_recv", 2),
    "scope:tracing": ("on_shim_tracing", 2),
    "scope:code": ("on_shim_code", 4),
    "scope:ring": ("on_shim_ring", 2),
}
# the interpreter's own call markers, replaced by the shim's when it is there
BUILTIN_CALLS = ("python:function__entry", "python:function__return")

# Markers known to harm the target, by CPython (major, minor).
DENY = {
    ("python:line", (3, 11)): "crashes CPython 3.11 when attached",
}


@dataclass(frozen=True)
class ProbeChoice:
    marker: str
    use: bool
    reason: str


def plan_probes(version: tuple[int, int], markers: list[str], *,
                allow_unsafe: frozenset[str] = frozenset()) -> list[ProbeChoice]:
    """Decide, for every marker the target has, whether to attach it."""
    choices = []
    shim = "scope:call" in markers
    ring = "scope:ring" in markers
    for marker in sorted(set(markers)):
        deny = DENY.get((marker, version[:2]))
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
        if deny and marker not in allow_unsafe:
            choices.append(ProbeChoice(marker, False, f"denied: {deny}"))
        elif marker == "python:line":
            choices.append(ProbeChoice(marker, False, "line events are opt-in and not recorded yet"))
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
