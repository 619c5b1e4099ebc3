"""The thresholds of `scope explain`'s detectors: one documented default each
(docs/explain.md), changed with ``--threshold NAME=VALUE``."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ...errors import UsageError


@dataclass(frozen=True)
class Thresholds:
    # every finding: the time at stake, at least this share of the recording's wall time
    min_share: float = 0.02
    # severity: high from this share of wall time, medium from the next, low below
    high_share: float = 0.20
    medium_share: float = 0.05
    # repeated work: at least this many calls of one callee under one parent call…
    repeat_calls: int = 100
    # …together at least this share of the parent call's time…
    repeat_parent_share: float = 0.5
    # …in at least this many calls of the parent (a driver loop run once, main's, is not repeated work;
    # serialized awaits too)
    repeat_parents: int = 2
    # exceptions as control flow: at least this many raises of one function…
    raise_calls: int = 1000
    # …at least this share of them caught by the caller (the caller went on)
    raise_caught_share: float = 0.9
    # rare slow path: functions with at least this many timed calls…
    slow_min_calls: int = 20
    # …whose calls this many times their median…
    slow_factor: float = 10.0
    # …and at least this much longer than it (ns)…
    slow_min_ns: int = 5_000_000
    # …are at most this share of its calls
    slow_max_share: float = 0.05
    # GC pressure: pauses at least this share of wall time…
    gc_share: float = 0.05
    # …or at least this many pauses during calls of one function
    gc_same_calls: int = 10
    # import cost: imports run at top level at least this share of wall time…
    import_share: float = 0.10
    # …or one import run inside a function call at least this long (ns)
    import_in_call_ns: int = 20_000_000
    # serialized awaits: at least this many awaits, one after another, in one coroutine call…
    await_serial: int = 3
    # …each waiting at least this long (ns), their waits together most of the call's time
    await_min_ns: int = 1_000_000
    # lock contention (--offcpu): waits on locks of two threads or more, at least this share of their time
    lock_share: float = 0.05
    # a lock wait longer than this (ns) is not the GIL's (whose waits wake every switch interval, 5 ms)
    gil_wait_max_ns: int = 5_500_000
    # hot spots: a function's self time at least this share of all self time (and min_share of wall time)…
    hot_share: float = 0.10
    # …at most this many of them
    hot_max: int = 3


def parse(pairs: list[str], base: Thresholds | None = None) -> Thresholds:
    """``NAME=VALUE`` pairs over the defaults (UsageError naming the known ones)."""
    base = base or Thresholds()
    known = {f.name: f for f in fields(Thresholds)}
    changes = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        name = name.strip().replace("-", "_")
        if name not in known or not value:
            raise UsageError(f"--threshold {pair!r}: not NAME=VALUE with a known NAME",
                             "names: " + ", ".join(sorted(known)))
        kind = int if known[name].type in (int, "int") else float
        try:
            number = kind(float(value)) if kind is int else kind(value)
        except ValueError:
            raise UsageError(f"--threshold {pair!r}: {value!r} is not a number", f"e.g. {name}={getattr(base, name)}") \
                from None
        if number < 0:
            raise UsageError(f"--threshold {pair!r}: it cannot be negative", f"e.g. {name}={getattr(base, name)}")
        changes[name] = number
    return replace(base, **changes)
