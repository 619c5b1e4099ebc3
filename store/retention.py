"""Retention: `scope store prune --max-bytes/--max-age`, oldest recordings first.

Whole recordings are the unit (a recording is one session's story; half of
one would answer questions wrongly). A recording being written (its lock
held) is never removed, though its bytes count towards the total. A removal
renames the folder first, so a reader sees it whole or not at all. Nothing is
followed: a recording folder that is a link is not one of the store's (fleet),
and inside one a link is removed as a link (fsutil.remove_tree).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .fleet import find_recordings, size_of, started_realtime_ns
from .fsutil import is_locked, remove_tree


@dataclass
class Removal:
    folder: Path
    bytes: int
    reason: str          # "older than …" / "over --max-bytes"


def plan(root: Path, *, max_bytes: int | None, max_age_s: float | None, now_ns: int) -> list[Removal]:
    """What prune would remove, oldest first (pure but for reading the folders)."""
    found = []
    for folder in find_recordings(root):
        if folder == Path(root):
            raise UsageError(f"{root} is one recording, not a folder of recordings",
                             "give the folder that holds recordings, e.g. ./scope-recordings")
        found.append((started_realtime_ns(folder) or 0, folder, size_of(folder), is_locked(folder)))
    found.sort(key=lambda r: (r[0], str(r[1])))
    out: list[Removal] = []
    total = sum(size for _, _, size, _ in found)
    for started, folder, size, live in found:
        if live:
            continue
        if max_age_s is not None and started < now_ns - max_age_s * 1e9:
            out.append(Removal(folder, size, f"older than {max_age_s:g} s"))
            total -= size
    gone = {r.folder for r in out}
    for _started, folder, size, live in found:
        if max_bytes is None or total <= max_bytes:
            break
        if live or folder in gone:
            continue
        out.append(Removal(folder, size, "over --max-bytes"))
        total -= size
    return out


def prune(root: Path, *, max_bytes: int | None, max_age_s: float | None, now_ns: int,
          dry_run: bool = False) -> list[Removal]:
    removals = plan(root, max_bytes=max_bytes, max_age_s=max_age_s, now_ns=now_ns)
    if not dry_run:
        for r in removals:
            if not is_locked(r.folder):      # it may have been taken since the plan
                remove_tree(r.folder)
    return removals
