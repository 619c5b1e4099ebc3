"""The flight recorder: `--flight-recorder 30s --trigger …` keeps only the last
window of the recording in memory (the hot tier) and writes it — with what
follows for `--after` — when a trigger fires; nothing reaches disk otherwise.

Triggers (repeatable; the first to fire wins, and recording stops after `--after`):

    exception          a Python call ends by raising (the first frame it leaves)
    exception:GLOB     … an exception whose type matches GLOB (CPython 3.12+: 3.11
                       does not tell the profile hook the type)
    audit:GLOB         a sys.audit event whose name matches GLOB (e.g. os.system,
                       subprocess.Popen, socket.connect)
    slow:GLOB>DUR      a call of a function matching GLOB lasts at least DUR (e.g.
                       slow:handle>100ms; decided when the call returns)
    signal             scope receives SIGUSR1 (`kill -USR1 $(pgrep -f 'scope attach')`)

Pure decisions over event batches and call columns; the session feeds them.
"""
from __future__ import annotations

import fnmatch
import re
import time
from dataclasses import dataclass

import numpy as np

from scope import kinds

from ..errors import UsageError
from ..units import parse_duration

KINDS = ("exception", "audit", "slow", "signal")


@dataclass(frozen=True)
class Trigger:
    kind: str
    pattern: str | None = None
    threshold_ns: int = 0
    text: str = ""


def parse_trigger(text: str) -> Trigger:
    kind, _, rest = text.partition(":")
    if kind not in KINDS:
        raise UsageError(f"unknown --trigger {text!r}",
                         "use exception, exception:TYPE, audit:EVENT, slow:FUNC>100ms or signal")
    if kind == "signal" or (kind == "exception" and not rest):
        if rest:
            raise UsageError(f"--trigger signal takes no argument, not {text!r}", "write --trigger signal")
        return Trigger(kind, text=text)
    if kind == "slow":
        m = re.fullmatch(r"(.+?)\s*>\s*(\S+)", rest)
        if not m:
            raise UsageError(f"cannot read --trigger {text!r}", "write e.g. slow:handle>100ms")
        try:
            threshold = parse_duration(m.group(2))
        except Exception:  # noqa: BLE001 — argparse types raise more than one kind
            raise UsageError(f"cannot read the duration in --trigger {text!r}",
                             "write e.g. slow:handle>100ms") from None
        return Trigger(kind, m.group(1), threshold, text)
    if not rest:
        raise UsageError(f"--trigger {kind} needs a name, e.g. {kind}:os.system", "see `scope attach --help`")
    return Trigger(kind, rest, text=text)


@dataclass
class Fired:
    trigger: str
    ts: int              # monotonic ns of the event that fired it
    pid: int
    tid: int
    what: str            # e.g. "ValueError raised in parse", "audit os.system"

    def as_dict(self) -> dict:
        return {"trigger": self.trigger, "ts": self.ts, "pid": self.pid, "tid": self.tid, "what": self.what}


class FlightRecorder:
    def __init__(self, window_ns: int, after_ns: int, triggers: list[Trigger]) -> None:
        self.window_ns = window_ns
        self.after_ns = after_ns
        self.triggers = triggers
        self.fired: Fired | None = None

    @property
    def wants_signal(self) -> bool:
        return any(t.kind == "signal" for t in self.triggers)

    def _fire(self, trigger: Trigger, ts: int, pid: int, tid: int, what: str) -> None:
        if self.fired is None or ts < self.fired.ts:
            self.fired = Fired(trigger.text, ts, pid, tid, what)

    def check_events(self, ev: np.ndarray, names: dict[tuple[int, int], str]) -> None:
        """exception and audit triggers, over one batch of decoded records."""
        if self.fired is not None or not len(ev):
            return
        for trig in self.triggers:
            if trig.kind == "exception":
                rows = np.flatnonzero((ev["kind"] == kinds.RETURN) & ((ev["flags"] & kinds.F_RAISED) != 0))
                for i in rows:
                    exc = names.get((int(ev["pid"][i]), int(ev["line"][i]) & 0xFFFFFFFF)) if ev["line"][i] else None
                    if trig.pattern is None or (exc is not None and fnmatch.fnmatchcase(exc, trig.pattern)):
                        func = names.get((int(ev["pid"][i]), int(ev["code"][i])), "?")
                        self._fire(trig, int(ev["ts"][i]), int(ev["pid"][i]), int(ev["tid"][i]),
                                   f"{exc or 'an exception'} raised in {func}")
                        break
            elif trig.kind == "audit":
                for i in np.flatnonzero(ev["kind"] == kinds.AUDIT):
                    name = names.get((int(ev["pid"][i]), int(ev["code"][i])))
                    if name is not None and fnmatch.fnmatchcase(name, trig.pattern):
                        self._fire(trig, int(ev["ts"][i]), int(ev["pid"][i]), int(ev["tid"][i]), f"audit {name}")
                        break

    def check_calls(self, cols: dict, names: dict[tuple[int, int], str]) -> None:
        """slow triggers, over finished calls (collector columns: -1 is null)."""
        if self.fired is not None or not len(cols["call_id"]):
            return
        for trig in self.triggers:
            if trig.kind != "slow":
                continue
            dur = np.asarray(cols["duration_ns"])
            for i in np.flatnonzero(dur >= trig.threshold_ns):
                pid, code = int(cols["pid"][i]), int(cols["code_id"][i])
                func = names.get((pid, code))
                if func is not None and fnmatch.fnmatchcase(func, trig.pattern):
                    self._fire(trig, int(cols["end_ns"][i]), pid, int(cols["tid"][i]),
                               f"{func} took {int(dur[i]) / 1e6:.1f} ms")
                    break

    def on_signal(self) -> None:
        trig = next(t for t in self.triggers if t.kind == "signal")
        self._fire(trig, time.monotonic_ns(), 0, 0, "SIGUSR1")

    def due(self, now_ns: int) -> bool:
        """Fired, and the --after time has passed: stop and write."""
        return self.fired is not None and now_ns >= self.fired.ts + self.after_ns

    def window(self) -> tuple[int, int]:
        assert self.fired is not None
        return self.fired.ts - self.window_ns, self.fired.ts + self.after_ns
