"""What a recording is asked to do, gathered once from the command line for
both `scope attach` and `scope run` (scope/commands/recording.py builds it)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..probes.program import ProgramConfig

ROLL_S = 5.0           # finished calls and pending events reach disk at least this often


@dataclass(frozen=True)
class RecordingOptions:
    config: ProgramConfig = field(default_factory=ProgramConfig)   # what the eBPF programs do
    duration: float | None = None          # --duration: stop after this many seconds
    min_duration_ns: int = 0               # --min-duration: calls shorter are not kept
    call_filters: tuple[str, ...] = ()     # --function/--exclude as "+glob" / "-glob"
    max_overhead: float | None = None      # --max-overhead: the governor's cap, in %
    flight: object | None = None           # collector.flight.FlightRecorder (--flight-recorder)
    write_every_s: float = ROLL_S          # --write-every
