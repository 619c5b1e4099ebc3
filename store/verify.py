"""Check every file of a recording without changing any: what is intact, what is
damaged, and what an unfinished recording (a collector that was killed) left."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import RecordingError
from . import spill, validate


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


def _check(path: Path, rel: str) -> tuple[int | None, str | None]:
    """Rows of a readable file whose columns have scope's types and whose times
    are times (store/validate.py); else why not."""
    expected = validate.schema_of(rel)
    try:
        table = pq.read_table(path)
        if expected is not None:
            validate.check_types(rel, table.schema, expected)
            validate.check_times(rel, table)
    except (OSError, pa.ArrowException) as exc:
        return None, str(exc).splitlines()[0]
    except RecordingError as exc:
        return None, str(exc).split(": ", 1)[-1]
    return table.num_rows, None


def verify(folder: Path) -> Report:
    folder = Path(folder)
    rep = Report(folder)
    listed: set[str] = set()
    meta_path = folder / "session.json"
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            rep.finished = True
            if not isinstance(meta, dict):
                meta = {"segments": "not an object"}       # said by check_meta: not a list of files
            validate.check_meta(folder, meta, "session.json")
            listed = set(meta.get("segments", [])) | set(meta.get("calls_segments", []))
        except (OSError, ValueError) as exc:
            rep.damaged.append(("session.json", str(exc)))
        except RecordingError as exc:
            rep.damaged.append(("session.json", str(exc).removeprefix("session.json: ")
                                .removeprefix("session.json ")))
    for name in sorted(listed):
        if not (folder / name).exists():
            rep.missing.append(name)
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        rel = str(path.relative_to(folder))
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            rep.partial.append(rel)
            continue
        if path.suffix != ".parquet":
            continue
        rows, why = _check(path, rel)
        if why is not None:
            rep.damaged.append((rel, why))
        else:
            rep.ok.append((rel, rows))
        if rel.startswith(("events/", "calls/", "cold/")) and rep.finished and rel not in listed:
            rep.unlisted.append(rel)
    if not rep.finished:
        rep.unlisted = [f for f, _ in rep.ok if f.startswith(("events/", "calls/"))]
    if (folder / spill.NAME).exists() and not rep.finished:
        try:
            records, rings, rep.spill_problem = spill.pending(folder)
            rep.spill = (records, rings)
        except (OSError, RecordingError) as exc:
            rep.spill_problem = str(exc)
    return rep
