"""A finding of `scope explain`, as every output format shows it."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .thresholds import Thresholds

SEVERITIES = ("high", "medium", "low")


@dataclass(frozen=True)
class Finding:
    detector: str          # its name in explain.DETECTORS
    title: str             # one line: what, where, how much
    severity: str          # SEVERITIES: by the share of wall time at stake
    where: dict            # the function: function, file, line
    at_stake_ns: int       # the time the problem costs, at most
    share: float           # at_stake_ns over what share_of names
    evidence: dict         # the numbers behind the title: counts, call ids, times (s from the start), stacks
    why: str               # why it matters
    what_to_try: str
    share_of: str = "wall time"   # the whole share is of: the recording's wall time, or as a detector says
    at: dict | None = None        # where the evidence is, to go to (the TUI): pid, tid, start_ns, end_ns

    def as_dict(self) -> dict:
        return asdict(self)


def severity(share: float, t: Thresholds) -> str:
    """high, medium or low by the share of wall time at stake."""
    return "high" if share >= t.high_share else "medium" if share >= t.medium_share else "low"


def located(where: dict) -> str:
    """``function (file:line)``."""
    return f"{where['function']} ({where['file']}:{where['line']})"
