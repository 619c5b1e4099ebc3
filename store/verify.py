"""Check every file of a recording without changing any: what is intact, what is
damaged, and what an unfinished recording (a collector that was killed) left."""
from __future__ import annotations

import json
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import RecordingError
from . import spill, validate
from .safeopen import Folder, kind_of


@dataclass
class Report:
    folder: Path
    finished: bool = False
    ok: list[tuple[str, int]] = field(default_factory=list)        # (file, rows)
    damaged: list[tuple[str, str]] = field(default_factory=list)   # (file, why)
    missing: list[str] = field(default_factory=list)               # listed, not there
    unlisted: list[str] = field(default_factory=list)              # there, not listed (the tail)
    partial: list[str] = field(default_factory=list)               # temporary files of a write cut short
    spill: tuple[int, int] | None = None       # (records, rings) waiting in rings.spill past the disk
    spill_problem: str | None = None           # why the spill cannot be read (whole)

    @property
    def healthy(self) -> bool:
        return self.finished and not (self.damaged or self.missing)


def _check(d: Folder, rel: str) -> tuple[int | None, str | None]:
    """Rows of a readable file whose columns have scope's types and whose times
    are times (store/validate.py); else why not. Read through the folder's
    descriptor, the checked inode handed to pyarrow (store/safeopen.py)."""
    expected = validate.schema_of(rel)
    try:
        with d.reading(rel) as src:
            table = pq.read_table(src)
        if expected is not None:
            validate.check_types(rel, table.schema, expected)
            validate.check_times(rel, table)
        validate.check_text(rel, table)
    except (OSError, pa.ArrowException) as exc:
        return None, str(exc).splitlines()[0]
    except RecordingError as exc:
        return None, str(exc).split(": ", 1)[-1]
    return table.num_rows, None


def verify(folder: Path) -> Report:
    """Every entry of the folder, walked by descriptor: a link or any entry that
    is neither a folder nor a regular file is damaged (named, never followed)."""
    folder = Path(folder)
    rep = Report(folder)
    with Folder.open(folder) as d:      # the folder itself a link: refused (UnsafeEntry)
        _verify(d, rep)
    return rep


def _verify(d: Folder, rep: Report) -> None:
    folder = rep.folder
    listed: set[str] = set()
    st = d.lstat("session.json")
    if st is not None and stat.S_ISREG(st.st_mode):        # anything else: damaged, by the walk below
        try:
            meta = json.loads(d.read_bytes("session.json"))
            rep.finished = True
            if not isinstance(meta, dict):
                meta = {"segments": "not an object"}       # said by check_meta: not a list of files
            validate.check_meta(folder, meta, "session.json")
            listed = set(meta.get("segments", [])) | set(meta.get("calls_segments", []))
        except (OSError, ValueError) as exc:
            rep.damaged.append(("session.json", str(exc)))
        except RecordingError as exc:
            rep.damaged.append(("session.json", str(exc).removeprefix(f"{folder / 'session.json'} ")
                                .removeprefix("session.json: ").removeprefix("session.json ")))
    for name in sorted(listed):
        if not d.exists(name):
            rep.missing.append(name)
    for rel, st in d.walk():
        if stat.S_ISDIR(st.st_mode):
            continue
        name = rel.rsplit("/", 1)[-1]
        if not stat.S_ISREG(st.st_mode):
            if not (name == "live.sock" and stat.S_ISSOCK(st.st_mode)):     # a collector's, while it runs
                rep.damaged.append((rel, f"{kind_of(st.st_mode)}, not a regular file (not followed)"))
            continue
        if name.startswith(".") and name.endswith(".tmp"):
            rep.partial.append(rel)
            continue
        if not name.endswith(".parquet"):
            continue
        rows, why = _check(d, rel)
        if why is not None:
            rep.damaged.append((rel, why))
        else:
            rep.ok.append((rel, rows))
        if rel.startswith(("events/", "calls/", "cold/")) and rep.finished and rel not in listed:
            rep.unlisted.append(rel)
    if not rep.finished:
        rep.unlisted = [f for f, _ in rep.ok if f.startswith(("events/", "calls/"))]
    if d.exists(spill.NAME) and not rep.finished:
        try:
            records, rings, rep.spill_problem = spill.pending(d)
            rep.spill = (records, rings)
        except (OSError, RecordingError) as exc:
            rep.spill_problem = str(exc)
