"""A store: a folder of recordings (by default ./scope-recordings/), possibly of
many processes and hosts. Find them, describe them, and open several at once
on one wall-clock time line."""
from __future__ import annotations

import datetime as dt
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from ..errors import RecordingError
from . import catalog
from .fsutil import is_locked
from .live import open_live
from .reader import Recording, open_recording
from .safeopen import Folder, UnsafeEntry, folder_of


def is_recording(path: Path | Folder) -> bool:
    """Does the folder hold a recording (session.json, a live socket, or a catalog
    with its header)? Looked at without following links; a link in the place of
    one of those counts (opening the recording then says what is wrong)."""
    try:
        d, mine = folder_of(path)
    except OSError:
        return False
    try:
        if d.exists("session.json") or d.exists("live.sock"):
            return True
        cat = catalog.load(d)
        return bool(cat and cat.get("header"))
    except UnsafeEntry:
        return True
    finally:
        if mine:
            d.close()


def find_recordings(root: Path | str) -> list[Path]:
    """``root`` itself when it is a recording, else the recordings directly in it
    (in name order, which for scope's own names is time order). ``root`` may be a
    link (the user named it); a recording folder that is a link is refused when
    given, and not taken for one of a store's recordings."""
    root = Path(root)
    if not root.exists() and not root.is_symlink():
        raise RecordingError(f"{root} does not exist", "give a recording folder or a folder of "
                             "recordings such as ./scope-recordings")
    if not root.is_dir():
        open_recording(root)        # raises the reader's own message (a file, not a folder)
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise RecordingError(f"cannot read {root}: {exc.strerror}", "give a folder you can read") from None
    with Folder(fd, root) as store:
        if is_recording(store):
            if root.is_symlink():
                Folder.open(root)   # refused: a recording folder that is a link (store/safeopen.py)
            return [root]
        found = []
        for name, st in store.walk(depth=1):
            if not stat.S_ISDIR(st.st_mode) or name.startswith("."):
                continue            # links (and files) are not recordings of this store
            try:
                sub = store.sub(name)
            except (OSError, RecordingError):
                continue            # gone, or swapped for a link meanwhile
            with sub:
                if is_recording(sub):
                    found.append(root / name)
    return found


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
    """Bytes of the regular files below ``folder`` (walked by descriptor: links not followed)."""
    try:
        with Folder.open(folder) as d:
            return sum(st.st_size for _, st in d.walk() if stat.S_ISREG(st.st_mode))
    except (OSError, RecordingError):
        return 0


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
        with Folder.open(folder) as d:
            try:
                meta = json.loads(d.read_bytes("session.json"))
            except (OSError, ValueError, RecordingError):
                meta = None
            meta = meta if isinstance(meta, dict) else None
            try:
                head = meta or (catalog.load(d) or {}).get("header") or {}
            except RecordingError:
                head = {}
    except (OSError, RecordingError):
        return None, {}
    return meta, head if isinstance(head, dict) else {}


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
