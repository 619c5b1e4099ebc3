"""`scope explain`: detectors over a recording, each finding with a title, a
severity, its evidence (functions with file:line, call ids, times, counts, the
share of wall time at stake), why it matters and what to try.

Each detector is a module with ``detect(facts, thresholds) -> (findings,
notes)``, listed in ``DETECTORS``; a finding never claims more than the
recording shows — what a detector cannot see (no ``--offcpu``, no GC events)
it says in a note. Pure over `facts.Facts`: the recording is read once.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..reader import Recording
from . import awaits, exceptions, gcpressure, hotspots, imports, locks, repeated, slowpath
from .facts import Facts, facts
from .finding import SEVERITIES, Finding
from .thresholds import Thresholds

Detector = Callable[[Facts, Thresholds], tuple[list[Finding], list[str]]]

DETECTORS: dict[str, Detector] = {
    "repeated-work": repeated.detect,
    "lock-contention": locks.detect,
    "exceptions": exceptions.detect,
    "slow-path": slowpath.detect,
    "serialized-awaits": awaits.detect,
    "gc-pressure": gcpressure.detect,
    "import-cost": imports.detect,
    "hot-spots": hotspots.detect,
}


@dataclass
class Report:
    """The findings, most severe first (then by time at stake), and the notes
    on what could not be looked at."""
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    wall_ns: int = 0
    narrative: str | None = None      # a language model's, when asked for (--llm): shown after the findings


def explain(rec: Recording, thresholds: Thresholds | None = None, only: list[str] | None = None) -> Report:
    """Every detector (or ``only`` those named) over ``rec``."""
    thresholds = thresholds or Thresholds()
    f = facts(rec)
    found: list[Finding] = []
    notes: list[str] = []
    for name, detect in DETECTORS.items():
        if only and name not in only:
            continue
        got, said = detect(f, thresholds)
        found += got
        notes += said
    found.sort(key=lambda x: (SEVERITIES.index(x.severity), -x.at_stake_ns))
    return Report(found, notes, f.wall_ns)
