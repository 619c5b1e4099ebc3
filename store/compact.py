"""The cold tier: merge a finished recording's warm segments into larger files,
hive-partitioned by wall-clock hour, with the same schemas.

    DIR/cold/events/host=H/date=YYYY-MM-DD/hour=HH/part-NNNNNN.parquet
    DIR/cold/calls/host=H/date=YYYY-MM-DD/hour=HH/part-NNNNNN.parquet

Rows are sorted by time within a file (calls by start; unknown starts by end),
row groups and encodings as the writer's (writer.write_parquet), small enough for Parquet statistics to prune
them, and each file is at most FILE_ROWS rows. `pid` is a column, not a path
key: Spark and Trino refuse a column that is both in the files and in the
path, and the catalog keeps each file's pids for pruning.

Every step leaves the recording readable, so compaction may be interrupted
at any point (even SIGKILL) and run again:
1. leftovers of an interrupted run (cold files nothing lists) are removed;
2. cold files are written (each atomically) and checked against the warm
   segments: same row count and the same order-independent checksum over
   every column (a mismatch removes them and changes nothing else);
3. the catalog lists both, then session.json lists the cold files;
4. the warm segments are removed and the catalog lists only the cold files.
A recording being written (its lock held) or unfinished is left alone.
Every file is read and written relative to the recording's descriptor, no
link followed (store/safeopen.py): a `cold/` that is a link to another folder
is refused before anything is written.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import RecordingError
from . import schema, summary
from .catalog import Catalog, describe
from .fsutil import OutputError, is_locked
from .reader import open_recording
from .safeopen import Folder
from .writer import write_parquet

FILE_ROWS = 2_000_000      # per cold file; compaction holds about this many rows at once
HOUR_NS = 3600 * 10**9
_WRITE_FIX = "the recording is unchanged and readable; free space or fix its permissions, then compact again"
TABLES = {"events": ("segments", schema.EVENTS), "calls": ("calls_segments", schema.CALLS)}


@dataclass
class CompactResult:
    folder: Path
    done: bool = False
    skipped: str | None = None          # why nothing was done
    files: dict[str, tuple[int, int]] = field(default_factory=dict)   # table -> (warm in, cold out)
    rows: dict[str, int] = field(default_factory=dict)
    bytes_before: int = 0
    bytes_after: int = 0


def checksum(table: pa.Table) -> tuple[int, int]:
    """(rows, sum of per-row hashes mod 2**64) over every column, nulls told from
    zeros: equal for the same rows in any order, and a row that differs in any
    value (a status, a parent, a payload) changes it. Columns are taken by name,
    so the order of columns does not matter."""
    h = np.zeros(table.num_rows, np.uint64)
    with np.errstate(over="ignore"):
        for name in sorted(table.column_names):
            salt = np.uint64(int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little"))
            h = _mix(h * np.uint64(0x100000001B3) + (_column_hash(table[name]) ^ salt))
        total = int(h.sum(dtype=np.uint64)) if len(h) else 0
    return table.num_rows, total


_NULL = np.uint64(0x5BD1E9955BD1E995)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit reaches every output bit, so that
    sums of row hashes cannot cancel by simple arithmetic on one column."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _column_hash(col: pa.ChunkedArray) -> np.ndarray:
    """One uint64 per row: numbers by value, strings (plain or dictionary) by a
    digest of their text, null as its own value."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    valid = col.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_binary(col.type):
        enc = col.dictionary_encode()
        digests = np.array([int.from_bytes(hashlib.blake2b(str(v).encode("utf-8", "surrogatepass"),
                                                           digest_size=8).digest(), "little")
                            for v in enc.dictionary.to_pylist()] or [0], np.uint64)
        idx = pc.fill_null(enc.indices, 0).to_numpy(zero_copy_only=False)
        out = digests[idx]
    else:
        values = pc.fill_null(col, pa.scalar(0, col.type) if not pa.types.is_boolean(col.type)
                              else False).to_numpy(zero_copy_only=False)
        out = values.astype(np.int64).view(np.uint64)
    return np.where(valid, out, _NULL)


def _hour_keys(ns: np.ndarray, offset: int) -> np.ndarray:
    return (ns + offset) // HOUR_NS


def _partition(host: str, hour: int) -> str:
    when = dt.datetime.fromtimestamp(hour * 3600, dt.UTC)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in host) or "unknown"
    return f"host={safe}/date={when:%Y-%m-%d}/hour={when:%H}"


def _sizes(d: Folder, files: list[str]) -> int:
    return sum(st.st_size for f in files if (st := d.lstat(f)) is not None)


# the subfolders compaction reads, writes or removes: each a folder, if present
SUBFOLDERS = ("events", "calls", "cold", summary.FOLDER, f"{summary.FOLDER}/calls", f"{summary.FOLDER}/cold")


def _refuse_links(d: Folder) -> None:
    """Before anything is written: every subfolder compaction touches is a
    folder of the recording, not a link (to another folder) or a file."""
    for sub in SUBFOLDERS:
        if d.exists(sub):
            d.sub(sub).close()      # UnsafeEntry names a link


def _write_session(d: Folder, meta: dict) -> None:
    try:
        d.write_bytes("session.json", json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n")
    except OSError as exc:
        raise OutputError(f"cannot write {d.path / 'session.json'}: {exc.strerror}", _WRITE_FIX) from None


def compact(folder: Path | str, *, file_rows: int = FILE_ROWS) -> CompactResult:
    folder = Path(folder)
    res = CompactResult(folder)
    if is_locked(folder):
        res.skipped = "being recorded"
        return res
    rec = open_recording(folder)
    if rec.unfinished:
        res.skipped = "unfinished (its collector was killed); `scope store verify` lists its tail"
        return res
    d = rec.dir
    _refuse_links(d)
    cat = Catalog.existing(d)
    if cat is None:
        raise RecordingError(f"{folder} has no readable catalog.json (missing or damaged)",
                             "it was recorded by an older scope, or the file was damaged; the "
                             "recording stays readable as it is, only compaction needs it")
    meta = dict(rec.meta)
    _remove_leftovers(d, meta)
    offset = int(rec.anchor[1]) - int(rec.anchor[0])       # monotonic -> realtime ns
    host = str(meta.get("host") or "unknown")
    plans = {}
    for table, (key, _) in TABLES.items():
        warm = [s for s in meta.get(key) or [] if not s.startswith("cold/")]
        if warm:
            plans[table] = warm
    if not plans:
        _tidy(d, cat)
        res.skipped = "nothing to compact (no warm segments)"
        return res
    new_entries: dict[str, dict[str, dict]] = {}     # table -> cold file -> catalog entry
    for table, warm in plans.items():
        sch = TABLES[table][1]
        written, before, after = _rewrite(rec, table, warm, sch, host, offset, file_rows)
        if before != after:         # this run's cold files go, every table's: nothing changed
            for f in [f for entries in new_entries.values() for f in entries] + [f for f, _ in written]:
                d.unlink(f)
                d.unlink(summary.location(f))
            what = "lost rows" if before[0] != after[0] else "changed values"
            raise RecordingError(f"compacting {table} of {folder} {what} ({before[0]:,} rows in, "
                                 f"{after[0]:,} out, checksums {before[1]:x} / {after[1]:x}); "
                                 "nothing was changed", "report this; the warm segments are intact")
        new_entries[table] = {f: e for f, e in written}
        res.files[table] = (len(warm), len(written))
        res.rows[table] = before[0]
        res.bytes_before += _sizes(d, warm)
        res.bytes_after += _sizes(d, [f for f, _ in written])
    # 3. the catalog lists both, then session.json the cold files (readers keep working)
    for table, entries in new_entries.items():
        cat.replace(table, [e for e in cat.data[table] if e["file"] not in plans[table]] + list(entries.values())
                    + [e for e in cat.data[table] if e["file"] in plans[table]])
    for table, entries in new_entries.items():
        key = TABLES[table][0]
        meta[key] = [s for s in meta.get(key) or [] if s not in plans[table]] + list(entries)
    meta["compacted"] = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                         "rows": res.rows}
    _write_session(d, meta)
    # 4. the warm segments go
    for warm in plans.values():
        for seg in warm:
            d.unlink(seg)
            d.unlink(summary.location(seg))
    _tidy(d, cat)
    res.done = True
    return res


def _tidy(d: Folder, cat: Catalog) -> None:
    """The catalog lists only files that exist; empty warm folders go."""
    for table in TABLES:
        entries = [e for e in cat.data[table] if d.exists(e["file"])]
        if len(entries) != len(cat.data[table]):
            cat.replace(table, entries)
    for sub in ("events", "calls", f"{summary.FOLDER}/calls"):
        if d.is_dir(sub):
            with d.sub(sub) as inside:
                empty = next(inside.walk(depth=1), None) is None
            if empty:
                d.rmdir(sub)


def _remove_leftovers(d: Folder, meta: dict) -> None:
    """Cold files an interrupted compaction wrote but never listed, and warm
    segments it listed as replaced but did not get to remove (walked by
    descriptor; a link among them is removed as a link, never followed)."""
    listed = set(meta.get("segments") or []) | set(meta.get("calls_segments") or [])
    for cold in ("cold", f"{summary.FOLDER}/cold"):
        if d.is_dir(cold):
            with d.sub(cold) as inside:
                for name, st in list(inside.walk()):
                    rel = f"{cold}/{name}"
                    if not stat.S_ISDIR(st.st_mode) and rel.removeprefix(f"{summary.FOLDER}/") not in listed:
                        inside.unlink(name)
    if any(s.startswith("cold/") for s in listed):
        for sub in ("events", "calls"):
            if not d.is_dir(sub):
                continue
            with d.sub(sub) as inside:
                for name, _ in list(inside.walk(depth=1)):
                    if name.startswith("part-") and name.endswith(".parquet") and f"{sub}/{name}" not in listed:
                        inside.unlink(name)


def _rewrite(rec, table: str, warm: list[str], sch: pa.Schema, host: str, offset: int, file_rows: int):
    """Write the warm segments' rows as cold files; (written [(file, entry)], checksum in, out)."""
    d = rec.dir
    buffers: dict[int, list[pa.Table]] = {}
    counts: dict[int, int] = {}
    written: list[tuple[str, dict]] = []
    rows_in, sum_in, rows_out, sum_out = 0, 0, 0, 0
    seq = 0
    if d.is_dir(f"cold/{table}"):
        with d.sub(f"cold/{table}") as cold:
            seq = sum(1 for name, _ in cold.walk() if name.rsplit("/", 1)[-1].startswith("part-"))

    def flush(hour: int) -> None:
        nonlocal seq, rows_out, sum_out
        parts = buffers.pop(hour, [])
        counts.pop(hour, None)
        if not parts:
            return
        t = pa.concat_tables(parts)
        when = _when(t, table, rec.start_ns)
        order = np.argsort(when, kind="stable")
        if len(order) > 1 and not (np.diff(when) >= 0).all():
            t = t.take(order)
        rel = f"cold/{table}/{_partition(host, hour)}/part-{seq:06d}.parquet"
        seq += 1
        try:
            with d.writing(rel) as tmp:                 # its folders made 0700, no link followed
                write_parquet(t, tmp, table)
        except OSError as exc:
            raise OutputError(f"cannot write {d.path / rel}: {exc.strerror or exc}", _WRITE_FIX) from None
        with d.reading(rel) as src:
            back = pq.read_table(src, schema=sch)       # what readers will see
        n, c = checksum(back)
        rows_out += n
        sum_out = (sum_out + c) % 2**64
        if table == "calls":      # its summary, for a fast --top (store/summary.py)
            with d.writing(summary.location(rel)) as tmp:
                write_parquet(summary.summarize(back), tmp)
        written.append((rel, dict(describe(table, rel, back), partition=_partition(host, hour))))

    for seg in warm:
        t = rec._read(seg, sch)
        n, c = checksum(t)
        rows_in += n
        sum_in = (sum_in + c) % 2**64
        if not t.num_rows:
            continue
        hours = _hour_keys(_when(t, table, rec.start_ns), offset)
        for hour in np.unique(hours):
            part = t.filter(pa.array(hours == hour))
            buffers.setdefault(int(hour), []).append(part)
            counts[int(hour)] = counts.get(int(hour), 0) + part.num_rows
            if counts[int(hour)] >= file_rows:
                flush(int(hour))
    for hour in sorted(buffers):
        flush(hour)
    return written, (rows_in, sum_in), (rows_out, sum_out)


def _when(t: pa.Table, table: str, default: int) -> np.ndarray:
    """Each row's time for placing it: ts; for calls the start, else the end, else
    the recording's start."""
    if table == "events":
        return t["ts"].to_numpy(zero_copy_only=False).astype(np.int64)
    when = pc.fill_null(pc.coalesce(t["start_ns"], t["end_ns"]), default)
    return when.to_numpy(zero_copy_only=False).astype(np.int64)

