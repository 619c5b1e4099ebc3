"""The spill a collector leaves in a recording's folder while records wait to
be indexed — part of the folder's format (collector/_drain.c writes it,
collector/recover.py reads it back after a kill, verify reports it).

DIR/rings.spill: runs of ring records (struct scope_event), each after a
32-byte header: magic "SCSPILL2", the ring's tag (pid | serial << 32), the
sequence number of the run's first record in its ring, and the count with the
run's size in bytes above it (count | size << 32). A run of ``count * 32``
bytes holds the raw records; a smaller one, the records delta-encoded
(collector/_spill_codec.h, decoded by ``scope.collector._drain.decode``). A
spill of scope before the codec ("SCSPILL1": the 4th word is the count, the
records raw) is read as well. Runs that were indexed and written are punched
out (their headers stay).
DIR/rings.json: per ring, its tag, pid, id shift, whether it is in its own pid
namespace, and its first sequence number (written as the ring opens). The
catalog's ``marks``, saved with each roll's segments in one write, say per
ring up to which sequence number its records are in the segments listed;
only then are the runs read before given back."""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import RecordingError
from . import catalog
from .safeopen import Folder, folder_of

NAME = "rings.spill"
RINGS = "rings.json"
MAGIC = int.from_bytes(b"SCSPILL2", "little")
MAGIC_RAW = int.from_bytes(b"SCSPILL1", "little")       # every run raw, the 4th word its count
HEADER = 32
RECORD = 32                   # sizeof(struct scope_event)
RUN_MAX = 1 << 18             # records in one run (the drain's CHUNK_MAX)
FIX = "the recording's other files stay readable as they are (scope store verify)"


@dataclass(frozen=True)
class Run:
    """One run of records in the spill: whose (tag), where in its ring's sequence."""
    tag: int
    first: int
    count: int
    offset: int              # of its records in the file
    size: int                # its bytes there: count * RECORD when raw, fewer when encoded

    @property
    def raw(self) -> bool:
        return self.size == self.count * RECORD


def runs(path: Path | str) -> tuple[list[Run], str | None]:
    """The spill's runs, walked header by header from the start; and why the
    walk stopped before the end (None: it reached the end). ``path``: the
    checked file's ``/proc/self/fd/N`` (Folder.reading)."""
    out: list[Run] = []
    off = 0
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        while off < size:
            fh.seek(off)
            raw = fh.read(HEADER)
            if len(raw) < HEADER:
                return out, f"a run header cut short at byte {off:,}"
            magic, tag, first, word = struct.unpack("<QQQQ", raw)
            count, length = (word & 0xFFFFFFFF, word >> 32) if magic == MAGIC else (word, word * RECORD)
            end = off + HEADER + length
            if magic not in (MAGIC, MAGIC_RAW) or not 0 < count <= RUN_MAX or not 0 < length <= count * RECORD:
                return out, f"no run header at byte {off:,}"
            if end > size:
                return out, f"the run at byte {off:,} goes past the end of the file (cut short)"
            out.append(Run(tag, first, count, off + HEADER, length))
            off = end
    return out, None


def rings(folder: Path | Folder) -> dict[int, dict]:
    """Each ring of rings.json, checked, with ``safe``: the sequence number up
    to which its records are in the segments the catalog lists (its marks;
    the ring's first record when no roll listed any of it)."""
    d, mine = folder_of(folder)
    try:
        data = json.loads(d.read_bytes(RINGS))
        marks = (catalog.load(d) or {}).get("marks") or {}
        out = {}
        for r in data["rings"]:
            ints = [r[k] for k in ("tag", "pid", "id_shift", "first")]
            if not all(type(v) is int and 0 <= v < 1 << 63 for v in ints) or r["pid"] != r["tag"] & 0xFFFFFFFF:
                raise ValueError(f"a ring that is not one: {str(r)[:80]}")
            safe = marks.get(str(r["tag"]), r["first"])
            if type(safe) is not int or not r["first"] <= safe < 1 << 63:
                raise ValueError(f"catalog.json's mark of ring {r['tag']:#x} is {str(safe)[:40]!r}")
            out[r["tag"]] = dict(r, own_pid_namespace=bool(r.get("own_pid_namespace")), safe=safe)
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RecordingError(f"{d.path / RINGS} does not say how to read the spill ({exc})", FIX) from None
    finally:
        if mine:
            d.close()


def pending(folder: Path | Folder) -> tuple[int, int, str | None]:
    """(records past their ring's safe point, rings they belong to, why the
    file could not be read whole or None): what `scope store recover` would index."""
    d, mine = folder_of(folder)
    try:
        with d.reading(NAME) as src:
            found, stop = runs(src)
        known = rings(d)
    finally:
        if mine:
            d.close()
    waiting: dict[int, int] = {}
    for run in found:
        ring = known.get(run.tag)
        if ring is not None and run.first + run.count > ring["safe"]:
            waiting[run.tag] = waiting.get(run.tag, 0) + run.first + run.count - max(run.first, ring["safe"])
    return sum(waiting.values()), len(waiting), stop
