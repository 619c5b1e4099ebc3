"""A recording is untrusted input: checks before anything uses what it holds.

A recording folder may come from anywhere (copied from another host, edited
by hand, crafted), and scope often reads it as root. So:

- file names it lists (session.json's segments, catalog.json's files) stay
  inside the folder: relative, no `..`, no link out of it;
- the times and counts session.json and catalog.json give are numbers in the
  range scope writes (monotonic ns below 2**60, about 36 years of uptime, so
  sums and differences of a few never overflow 64 bits);
- each Parquet file's columns have the types scope writes (a string where an
  id belongs is refused, not converted) and its time columns hold times.

Each failure is one RecordingError naming the file and what is wrong. Pure
checks on values; the reader and `scope store verify` call them.
"""
from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import RecordingError
from . import schema

TIME_MAX = 1 << 60             # monotonic ns: larger is not a time scope records
WALL_MAX = (1 << 63) - 1       # wall-clock ns (year 2262)
FIX = "the recording was altered or damaged: record again, or give another folder"

# the tables and where they live (a table per file name or folder)
SCHEMAS = {"events": schema.EVENTS, "calls": schema.CALLS, "code": schema.CODE, "threads": schema.THREADS,
           "processes": schema.PROCESSES, "syscalls": schema.SYSCALLS, "offcpu": schema.OFFCPU,
           "messages": schema.MESSAGES}
# columns holding monotonic times (and durations, same bound)
TIME_COLUMNS = {"ts", "start_ns", "end_ns", "duration_ns", "self_ns", "first_ns", "last_ns", "started_ns",
                "exited_ns", "send_ns", "recv_ns"}


def schema_of(rel: str) -> pa.Schema | None:
    """The schema of a file of a recording by its path in the folder (None: not a table)."""
    parts = Path(rel).parts
    if not parts or not rel.endswith(".parquet"):
        return None
    top = parts[1] if parts[0] == "cold" and len(parts) > 1 else parts[0]
    return SCHEMAS.get(top.removesuffix(".parquet"))


def confined(folder: Path, rel, where: str) -> str:
    """`rel`, a file the recording lists, if it names a file inside `folder`."""
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise RecordingError(f"{where} lists {rel!r}, not a file name", FIX)
    norm = os.path.normpath(rel)
    if os.path.isabs(rel) or norm == ".." or norm.startswith("../"):
        raise RecordingError(f"{where} lists {rel!r}, outside the recording", FIX)
    real, base = os.path.realpath(folder / norm), os.path.realpath(folder)
    if not real.startswith(base + os.sep):
        raise RecordingError(f"{where} lists {rel!r}, which leads outside the recording", FIX)
    return rel


def _int(value, where: str, field: str, low: int, high: int) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        bound = (f"2^{high.bit_length() - 1}" if high & (high - 1) == 0
                 else f"2^{high.bit_length()} - 1" if (high + 1) & high == 0 else f"{high:,}")
        raise RecordingError(f"{where}: {field} is {str(value)[:40]!r}, not a number from {low} to {bound}", FIX)


def check_meta(folder: Path, meta: dict, where: str = "session.json") -> None:
    """The times and file lists of session.json (or a catalog's header)."""
    for field in ("started_ns", "stopped_ns"):
        _int(meta.get(field), where, field, 0, TIME_MAX)
    clock = meta.get("clock") or {}
    if not isinstance(clock, dict):
        raise RecordingError(f"{where}: clock is {str(clock)[:40]!r}, not a clock anchor", FIX)
    _int(clock.get("monotonic_ns"), where, "clock.monotonic_ns", 0, TIME_MAX)
    _int(clock.get("realtime_ns"), where, "clock.realtime_ns", 0, WALL_MAX)
    for key in ("segments", "calls_segments", "code_segments"):
        files = meta.get(key) or []
        if not isinstance(files, list):
            raise RecordingError(f"{where}: {key} is not a list of files", FIX)
        for rel in files:
            confined(folder, rel, where)


def check_catalog(folder: Path, cat: dict) -> None:
    """Each entry of catalog.json: a file inside the folder, its times and ids numbers."""
    for kind in ("events", "calls", "code"):
        entries = cat.get(kind, [])
        if not isinstance(entries, list):
            raise RecordingError(f"catalog.json: {kind} is not a list of files", FIX)
        for i, e in enumerate(entries):
            where = f"catalog.json ({kind} #{i})"
            if not isinstance(e, dict):
                raise RecordingError(f"{where} is not an entry", FIX)
            confined(folder, e.get("file"), where)
            _int(e.get("min_ns"), where, "min_ns", 0, TIME_MAX)
            _int(e.get("max_ns"), where, "max_ns", 0, TIME_MAX)
            _int(e.get("rows"), where, "rows", 0, 1 << 48)
            for field, high in (("code_ids", (1 << 32) - 1), ("pids", (1 << 31) - 1), ("tids", (1 << 31) - 1)):
                values = e.get(field, [])
                if not isinstance(values, list) or not all(
                        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= high for v in values):
                    raise RecordingError(f"{where}: {field} is not a list of ids", FIX)
            if not isinstance(e.get("kinds", []), list) or not all(isinstance(k, str) for k in e.get("kinds", [])):
                raise RecordingError(f"{where}: kinds is not a list of names", FIX)
    header = cat.get("header")
    if header is not None:
        if not isinstance(header, dict):
            raise RecordingError("catalog.json: its header is not an object", FIX)
        check_meta(folder, header, "catalog.json's header")


def _stringy(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or (
        pa.types.is_dictionary(t) and _stringy(t.value_type))


def _same_kind(found: pa.DataType, expected: pa.DataType) -> bool:
    """Types scope may have written for a column (dictionary or plain strings; any
    width of integer: the values are range-checked when converted)."""
    if found == expected:
        return True
    if _stringy(expected):
        return _stringy(found)
    if pa.types.is_integer(expected):
        return pa.types.is_integer(found)
    return False


def check_types(name: str, found: pa.Schema, expected: pa.Schema) -> None:
    """Each column the file has that scope knows must be of scope's type."""
    for f in found:
        if f.name in expected.names and not _same_kind(f.type, expected.field(f.name).type):
            raise RecordingError(f"{name}: column {f.name} holds {f.type}, where scope writes "
                                 f"{expected.field(f.name).type}", FIX)


def check_times(name: str, table: pa.Table) -> None:
    """The time columns hold times: below TIME_MAX in magnitude (±2**63 would
    overflow every sum and difference made of them)."""
    for column in TIME_COLUMNS & set(table.column_names):
        if table[column].null_count == len(table[column]):
            continue
        span = pc.min_max(table[column])
        low, high = span["min"].as_py(), span["max"].as_py()
        if low is not None and (low < -TIME_MAX or high > TIME_MAX):
            bad = low if low < -TIME_MAX else high
            raise RecordingError(f"{name}: column {column} holds {bad}, not a time scope records", FIX)


def check_text(name: str, table: pa.Table) -> None:
    """The text columns hold UTF-8. pyarrow reads a file's string bytes without
    checking them: a crafted file's other bytes (a lone surrogate's, 0xff) would
    end whatever command turns them into Python text in a UnicodeDecodeError."""
    for f in table.schema:
        if _stringy(f.type):
            try:
                table[f.name].validate(full=True)
            except pa.ArrowInvalid:
                raise RecordingError(f"{name}: column {f.name} holds text that is not UTF-8", FIX) from None
