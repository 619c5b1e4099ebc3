"""What a recording is asked to do, gathered once from the command line for
both `scope attach` and `scope run` (scope/commands/recording.py builds it)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..probes.program import ProgramConfig

ROLL_S = 5.0           # finished calls and pending events reach disk at least this often
BACKLOG_MEMORY = 512 << 20    # the rings' backlog in memory (16 M records); past it, the spill


@dataclass(frozen=True)
class RecordingOptions:
    config: ProgramConfig = field(default_factory=ProgramConfig)   # what the eBPF programs do
    duration: float | None = None          # --duration: stop after this many seconds
    min_duration_ns: int = 0               # --min-duration: calls shorter are not kept
    call_filters: tuple[str, ...] = ()     # --function/--exclude as "+glob" / "-glob"
    max_overhead: float | None = None      # --max-overhead: the governor's cap, in %
    flight: object | None = None           # collector.flight.FlightRecorder (--flight-recorder)
    write_every_s: float = ROLL_S          # --write-every
    max_backlog: int = BACKLOG_MEMORY      # --max-backlog: bytes of it in memory
    max_spill: int | None = None           # --max-spill: bytes the rings' backlog may spill to disk
                                           # (None: a quarter of the free space; 0: no spill)
