"""Check every file of a recording without changing any: what is intact, what is
damaged, and what an unfinished recording (a collector that was killed) left."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass
class Report:
    folder: Path
    finished: bool = False
    ok: list[tuple[str, int]] = field(default_factory=list)        # (file, rows)
    damaged: list[tuple[str, str]] = field(default_factory=list)   # (file, why)
    missing: list[str] = field(default_factory=list)               # listed, not there
    unlisted: list[str] = field(default_factory=list)              # there, not listed (the tail)
    partial: list[str] = field(default_factory=list)               # temporary files of a write cut short

    @property
    def healthy(self) -> bool:
        return self.finished and not (self.damaged or self.missing)


def _check(path: Path) -> tuple[int | None, str | None]:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        return None, str(exc).splitlines()[0]
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
            listed = set(meta.get("segments", [])) | set(meta.get("calls_segments", []))
        except (OSError, ValueError) as exc:
            rep.damaged.append(("session.json", str(exc)))
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
        rows, why = _check(path)
        if why is not None:
            rep.damaged.append((rel, why))
        else:
            rep.ok.append((rel, rows))
        if rel.startswith(("events/", "calls/", "cold/")) and rep.finished and rel not in listed:
            rep.unlisted.append(rel)
    if not rep.finished:
        rep.unlisted = [f for f, _ in rep.ok if f.startswith(("events/", "calls/"))]
    return rep
