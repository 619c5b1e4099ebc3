"""Units, read and written the same way everywhere: durations, sizes, ages.

Parsers take what a user types (``1ms``, ``500M``, ``7d``, a time ``2.5`` or
``2026-11-22T10:15:00``, a count); formatters write for people (``1.62 µs``,
``3.1 MiB``). Every layer uses these, so they depend on nothing of scope's but
its errors. Each parser bounds what it returns: a value past its range
(``1e308``, ``inf``, ``nan``, 400 digits, a negative time) is refused in one
line that gives the range, never carried on to overflow an int64 somewhere
deeper (OverflowError). Pure.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Callable

from .errors import UsageError

_DURATION = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_SIZE = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_AGE = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SHORT = ((1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "µs"), (1, "ns"))

MAX_SECONDS = 10**9          # ~31.7 years: past any recording or wait; in ns (1e18) an int64 with room
MAX_SIZE = 1 << 60           # 1 EiB
MAX_COUNT = 1 << 62          # rows, calls: an int64 with room
MAX_ID = (1 << 63) - 1       # call ids are int64
MAX_PID = (1 << 31) - 1      # pids and tids are int32
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_WALL_MAX = (1 << 63) - 1    # wall-clock ns: 2262-04-11
TIME_FIX = (f"give seconds from the recording's start, 0 to {MAX_SECONDS:,} (e.g. 2.5), or an ISO time "
            "from 1970 to 2262 (e.g. 2026-11-22T10:15:00)")


def parse_duration(text: str) -> int:
    """'1ms' -> 1000000 (ns); a bare number is seconds; at most MAX_SECONDS.
    An argparse type: a bad value raises ArgumentTypeError with the fix, which
    argparse shows."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ns|us|µs|ms|s)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"cannot read duration {text!r}; write e.g. 1ms, 250us or 0.5s")
    ns = float(m.group(1)) * _DURATION[m.group(2) or "s"]     # 400 digits: inf, refused below
    if not ns <= MAX_SECONDS * 1e9:
        raise argparse.ArgumentTypeError(f"duration {text!r} is out of range; give at most {MAX_SECONDS:,} s")
    return int(ns)


def parse_seconds(text: str) -> float:
    """A number of seconds above 0 and at most MAX_SECONDS (``--duration 10``;
    not inf, not nan). An argparse type, as parse_duration."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"cannot read seconds {text!r}; write e.g. 10 or 0.5") from None
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; give seconds above 0 and at most "
                                         f"{MAX_SECONDS:,}, e.g. 10")
    return value


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (a count, a
    pid, a call id), refused past them in one line that says the range."""
    def parse(text: str) -> int:
        try:
            value = int(text)            # 5,000 digits: a ValueError too (Python's limit)
        except ValueError:
            raise argparse.ArgumentTypeError(f"cannot read {text[:40]!r} as a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must not be negative, not {value}" if low == 0
                                             else f"must be at least {low}, not {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"{text} is out of range; give at most {high:,}")
        return value
    parse.__name__ = "whole number"
    return parse


def parse_size(text: str) -> int:
    """'500M', '10G', '1024' (bytes) -> bytes (powers of 1024), at most MAX_SIZE."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", text.lower())
    if not m:
        raise UsageError(f"cannot read size {text!r}", "write e.g. 500M, 10G or 1T")
    size = float(m.group(1)) * _SIZE[m.group(2)]
    if not size <= MAX_SIZE:
        raise UsageError(f"size {text!r} is out of range", "give at most 1024P (write e.g. 500M, 10G or 1T)")
    return int(size)


def parse_age(text: str) -> float:
    """'7d', '12h', '30m', '90s' -> seconds, at most MAX_SECONDS."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhdw])\s*", text.lower())
    if not m:
        raise UsageError(f"cannot read age {text!r}", "write e.g. 7d, 12h, 30m or 90s")
    age = float(m.group(1)) * _AGE[m.group(2)]
    if not age <= MAX_SECONDS:
        raise UsageError(f"age {text!r} is out of range", f"give at most {MAX_SECONDS:,} s (about 31 years)")
    return age


def offset_ns(text: str) -> int | None:
    """A time written as seconds from a recording's start ('2.5') in ns, from 0
    to MAX_SECONDS; None when ``text`` is no number (an ISO time, maybe). A
    number out of that range (negative, inf, nan, 1e308) raises UsageError."""
    try:
        value = float(text)
    except ValueError:
        return None
    if not 0 <= value <= MAX_SECONDS:
        raise UsageError(f"time {text!r} is out of range", TIME_FIX)
    return int(value * 1e9)


def wall_ns(text: str) -> int:
    """An ISO time ('2026-11-22T10:15:00', local time unless it says its zone)
    as ns since the epoch, exactly; from 1970 to 2262 (an int64 of ns), else
    UsageError."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"cannot read time {text!r}", TIME_FIX) from None
    try:
        when = when if when.tzinfo is not None else when.astimezone()
        delta = when - _EPOCH
    except (ValueError, OverflowError, OSError):     # year 1 in local time: before year 1 in UTC
        raise UsageError(f"time {text!r} is out of range", TIME_FIX) from None
    ns = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1_000
    if not 0 <= ns <= _WALL_MAX:
        raise UsageError(f"time {text!r} is out of range", TIME_FIX)
    return ns


def parse_time(text: str) -> str:
    """--at/--since/--until as typed (seconds from the start, or an ISO time),
    checked before any recording is opened: an argparse type, so a bad value is
    one line naming the option and the range. The text is kept: what it means
    depends on the recording (store/filters.py: parse_time)."""
    try:
        if offset_ns(text) is None:
            wall_ns(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(exc.line()) from None
    return text


def _three_digits(value: float) -> str:
    """1.62, 12.0, 517: three significant digits, trailing zeros kept (columns align)."""
    a = abs(value)
    return f"{value:.2f}" if a < 9.995 else f"{value:.1f}" if a < 99.95 else f"{value:.0f}"


def human_ns(ns: int) -> str:
    """A duration in a column: 53 ns, 1.62 µs, 864 µs, 20.2 ms, 2.60 s, 1 m 05.4 s."""
    a = abs(ns)
    if a < 1_000:
        return f"{ns} ns"
    if a >= 60 * 10**9:
        minutes, seconds = divmod(a / 10**9, 60)
        return f"{'-' if ns < 0 else ''}{int(minutes)} m {seconds:04.1f} s"
    for unit, size in (("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)):
        if round(a / size, 1) < 999.5 or unit == "s":
            return f"{_three_digits(ns / size)} {unit}"
    raise AssertionError("unreachable")


def short_ns(ns: float) -> str:
    """A duration where room is short (the TUI's axis and boxes): 1.5 µs, 250 ms, 2.5 s."""
    for scale, unit in _SHORT:
        if abs(ns) >= scale:
            value = ns / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{ns:.0f} ns"


def human_bytes(n: float) -> str:
    """A size: 512 B, 3.1 MiB, 5.0 GiB (powers of 1024, as parse_size reads them)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
