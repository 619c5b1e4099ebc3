"""A store: a folder of recordings (by default ./scope-recordings/), possibly of
many processes and hosts. Find them, describe them, and open several at once
on one wall-clock time line."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from ..errors import RecordingError
from . import catalog
from .fsutil import is_locked
from .live import open_live
from .reader import Recording, open_recording


def is_recording(path: Path) -> bool:
    path = Path(path)
    if (path / "session.json").is_file() or (path / "live.sock").exists():
        return True
    cat = catalog.load(path)
    return bool(cat and cat.get("header"))


def find_recordings(root: Path | str) -> list[Path]:
    """``root`` itself when it is a recording, else the recordings directly in it
    (in name order, which for scope's own names is time order)."""
    root = Path(root)
    if not root.exists():
        raise RecordingError(f"{root} does not exist", "give a recording folder or a folder of "
                             "recordings such as ./scope-recordings")
    if is_recording(root):
        return [root]
    if not root.is_dir():
        open_recording(root)        # raises the reader's own message (a file, not a folder)
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and is_recording(p))


def open_many(paths: list[Path], *, live: bool = False) -> list[Recording]:
    """Every recording named, or found under a store root given, validated; with
    live, those in progress include their collector's hot tier (store.live)."""
    opener = open_live if live else open_recording
    out: list[Recording] = []
    for path in paths:
        found = find_recordings(path)
        if not found:
            raise RecordingError(f"{path} is not a scope recording and holds no recordings",
                                 "give a folder written by `scope attach` or `scope run`, or one "
                                 "that holds such folders (see ./scope-recordings/)")
        out.extend(opener(p) for p in found)
    return out


def align(recs: list[Recording]) -> list[Recording]:
    """Put several recordings on one time line: each counts "seconds from the
    start" from the earliest recording's start, in wall-clock terms (each
    session's monotonic <-> realtime anchor), so T means the same moment in all."""
    if len(recs) > 1:
        origin = min(real + (rec.start_ns - mono) for rec in recs for mono, real in [rec.anchor])
        for rec in recs:
            mono, real = rec.anchor
            rec.origin_ns = mono + (origin - real)
    return recs


def each(recs: list[Recording], question: Callable[[Recording], pa.Table], *,
         sort: list[tuple[str, str]] | None = None) -> pa.Table:
    """Ask every recording; one table with `recording` and `host` columns first."""
    parts = []
    for rec in recs:
        t = question(rec)
        n = t.num_rows
        t = t.add_column(0, "host", pa.array([rec.meta.get("host")] * n, pa.string()))
        parts.append(t.add_column(0, "recording", pa.array([rec.folder.name] * n, pa.string())))
    out = pa.concat_tables(parts, promote_options="permissive")
    return out.sort_by(sort) if sort else out


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file() and not p.is_symlink())


def state_of(folder: Path, meta: dict | None) -> str:
    if is_locked(folder):
        return "recording"
    if meta is None:
        return "unfinished"
    return "compacted" if meta.get("compacted") else "finished"


def _head(folder: Path) -> tuple[dict | None, dict]:
    """(session.json or None, what identifies the recording: session.json, else
    the catalog's header, which an unfinished recording has)."""
    try:
        meta = json.loads((Path(folder) / "session.json").read_text())
    except (OSError, ValueError):
        meta = None
    return meta, meta or (catalog.load(folder) or {}).get("header") or {}


def describe(folder: Path) -> dict:
    """One row of `scope store ls`."""
    folder = Path(folder)
    meta, head = _head(folder)
    clock = head.get("clock") or {}
    started = None
    if clock:
        started = dt.datetime.fromtimestamp(int(clock["realtime_ns"]) / 1e9).astimezone()
    counts = (meta or {}).get("counts", {})
    stop = (meta or {}).get("stopped_ns")
    return {
        "recording": str(folder), "state": state_of(folder, meta),
        "started": started.isoformat(timespec="seconds") if started else None,
        "seconds": round((int(stop) - int(head["started_ns"])) / 1e9, 3) if stop and head.get("started_ns") else None,
        "host": head.get("host"), "pid": (head.get("target") or {}).get("pid"),
        "exe": (head.get("target") or {}).get("exe"),
        "events": sum(counts.get("events", {}).values()) if meta else None,
        "calls": sum(counts.get("calls", {}).values()) if meta else None,
        "dropped": sum((meta or {}).get("drops", {}).values()) if meta else None,
        "bytes": size_of(folder),
    }


def started_realtime_ns(folder: Path) -> int | None:
    """When a recording began, in wall-clock ns (for retention, oldest first)."""
    clock = _head(folder)[1].get("clock") or {}
    return int(clock["realtime_ns"]) if "realtime_ns" in clock else None
