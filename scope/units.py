"""Units, read and written the same way everywhere: durations, sizes, ages.

Parsers take what a user types (``1ms``, ``500M``, ``7d``); formatters write
for people (``1.62 µs``, ``3.1 MiB``). Every layer uses these, so they depend
on nothing of scope's but its errors. Pure.
"""
from __future__ import annotations

import argparse
import re

from .errors import UsageError

_DURATION = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_SIZE = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_AGE = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SHORT = ((1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "µs"), (1, "ns"))


def parse_duration(text: str) -> int:
    """'1ms' -> 1000000 (ns); a bare number is seconds. An argparse type: a
    bad value raises ArgumentTypeError with the fix, which argparse shows."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ns|us|µs|ms|s)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"cannot read duration {text!r}; write e.g. 1ms, 250us or 0.5s")
    return int(float(m.group(1)) * _DURATION[m.group(2) or "s"])


def parse_size(text: str) -> int:
    """'500M', '10G', '1024' (bytes) -> bytes (powers of 1024)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", text.lower())
    if not m:
        raise UsageError(f"cannot read size {text!r}", "write e.g. 500M, 10G or 1T")
    return int(float(m.group(1)) * _SIZE[m.group(2)])


def parse_age(text: str) -> float:
    """'7d', '12h', '30m', '90s' -> seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhdw])\s*", text.lower())
    if not m:
        raise UsageError(f"cannot read age {text!r}", "write e.g. 7d, 12h, 30m or 90s")
    return float(m.group(1)) * _AGE[m.group(2)]


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
