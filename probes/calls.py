"""Where an attached recording's calls come from: the interpreter's own markers,
or the shim loaded into the target (`attach --inject`, the default where the
markers cannot give what a user attaches for: each call's start and duration).

Pure: the inputs are the CPython version, its markers and what was asked; the
output says what to do, why, and what a recording made without the shim lacks.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallsSource:
    inject: bool          # load the shim into the target
    why: str              # said in the summary and kept in session.json
    lacks: str | None     # what the markers alone cannot give (None: nothing a user needs)
    entries: bool = True  # the markers alone report each call's entry (the shim always does)

    def describe(self, injected: bool, failure: str | None = None) -> dict:
        """session.json's ``calls`` entry: the source used and why, and whether
        call entries are seen (without them no stack is known: the TUI says so)."""
        return {"source": "shim" if injected else "markers", "why": self.why,
                "lacks": None if injected else self.lacks, "injection_failed": failure,
                "entries_seen": injected or self.entries}


def _version(version) -> str:
    return f"{version[0]}.{version[1]}"


def markers_lack(version: tuple[int, int], markers: list[str]) -> str | None:
    """What a recording through these markers alone lacks, or None."""
    v = _version(version)
    if "python:function__return" not in markers:
        return f"calls: CPython {v}'s markers report none (GC, imports and audit events only)"
    if "python:function__entry" not in markers or tuple(version[:2]) <= (3, 11):
        return (f"each call's start and duration: CPython {v}'s markers report returns, and entries only "
                "while a profiler is set")
    return None


def markers_report_entries(version: tuple[int, int], markers: list[str]) -> bool:
    """The markers alone report each call's entry (3.11's only under a profiler)."""
    return "python:function__entry" in markers and tuple(version[:2]) > (3, 11)


def calls_source(version: tuple[int, int], markers: list[str], requested: bool | None) -> CallsSource:
    """``requested``: True (--inject), False (--no-inject) or None (scope decides)."""
    lacks = markers_lack(version, markers)
    entries = markers_report_entries(version, markers)
    if "scope:call" in markers:
        return CallsSource(False, "the shim is already loaded in the process", None)
    if requested:
        return CallsSource(True, "asked for (--inject)", lacks, entries)
    if requested is False:
        return CallsSource(False, "asked for (--no-inject)", lacks, entries)
    if tuple(version[:2]) < (3, 11):
        return CallsSource(False, "the shim needs CPython 3.11 or newer", lacks, entries)
    if lacks is None:
        return CallsSource(False, f"CPython {_version(version)}'s markers report every call's entry and "
                                  "return", None, entries)
    return CallsSource(True, f"the default where the markers lack {lacks.split(':')[0]}", lacks, entries)
