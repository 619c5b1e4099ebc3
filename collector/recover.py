"""Finish a recording whose collector was killed while records waited in its
spill: `scope store recover DIR`.

The spill (store/spill.py) holds runs of raw ring records past what the
catalog lists: each roll lists its events and calls segments in one write of
the catalog, with marks saying per ring up to which record they go, and only
then are the runs read before given back to the file system. Records waiting
in the drain's memory always come before those in the spill (collector/_drain.c).

Recovery reads each ring's runs past its mark, checks them as a take does
(shmring.refused_at), correlates them — a call whose start was already on disk
comes out as start_unseen, so its count stays exact — and writes them as new
events and calls segments. Records that reached neither the disk nor the spill
(the drain's memory at the kill) are counted exactly, from the gap between a
ring's mark and its first spilled record (``lost_at_kill``), and a loss record
stands where they were. What the target did after the last spilled record
never reached scope: the recording ends there. Calls that had ended before
the kill but were still in the collector's memory are not recovered (their
records are in the events on disk). Then the tables written at the end and
session.json. A flight recorder's spill is not recoverable (its window is in
memory until it fires), nor the calls of a process in its own pid namespace
(their thread ids are translated through /proc; counted as
``spill_unrecoverable``).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scope import kinds

from ..errors import RecordingError
from ..store import schema
from ..store.build import calls_table
from ..store.reader import open_recording
from ..store.safeopen import Folder
from ..store.spill import FIX, HEADER, runs
from ..store.spill import NAME as SPILL
from ..store.spill import RINGS as SPILL_RINGS
from ..store.spill import rings as read_rings
from ..store.writer import RecordingWriter
from ._drain import decode
from .correlate import NULL, Correlator
from .images import shift_records
from .shmring import EVENT, mark_derived, refused_at


@dataclass
class Recovered:
    """What the spill gave back, with loss records where records were lost."""
    records: np.ndarray
    recovered: int = 0        # records read back
    lost: int = 0             # never on disk nor in the spill (in the collector's memory at the kill)
    refused: int = 0          # broke a ring's rules (from the first such record on)
    unrecoverable: int = 0    # of processes in their own pid namespace: their thread ids need /proc
    unreadable: int = 0       # in runs that did not decode (a spill damaged on disk)
    skipped_runs: int = 0     # of rings rings.json does not name (refused before the kill)
    errors: list[str] = field(default_factory=list)


def _loss(pid: int, tid: int, ts: int, count: int) -> np.ndarray:
    rec = np.zeros(1, EVENT)
    rec["kind"], rec["pid"], rec["tid"], rec["ts"] = kinds.LOSS, pid, tid, ts
    rec["arg"] = min(count, (1 << 31) - 1)
    return rec


def read_back(path: Path | str, rings: dict[int, dict]) -> Recovered:
    """Every record of the spill past its ring's ``safe``, checked, shifted
    into its program's id space, in time order. ``path``: the checked file
    (``/proc/self/fd/N`` of Folder.reading, in `recover`)."""
    found, stop = runs(path)
    got = Recovered(np.zeros(0, EVENT))
    if stop:
        got.errors.append(f"{SPILL}: {stop}; the runs before it are read")
    parts = []
    with open(path, "rb") as fh:
        for tag, ring in rings.items():
            expected, pid = ring["safe"], ring["pid"]
            unread = 0                  # records of runs that did not decode, not yet marked by a loss record
            mine = [r for r in found if r.tag == tag]
            for run in mine:
                end = run.first + run.count
                if end <= expected:
                    continue            # on disk already (or a run seen twice)
                start = max(run.first, expected)
                if ring["own_pid_namespace"]:
                    got.unrecoverable += end - start
                    expected = end
                    continue
                fh.seek(run.offset)
                data = fh.read(run.size)
                try:
                    recs = np.frombuffer(data if run.raw else decode(data, run.count), EVENT)[start - run.first:]
                except ValueError as exc:    # a run that does not decode: its records counted, not read
                    got.unreadable += end - start
                    got.errors.append(f"{SPILL}: the run at byte {run.offset - HEADER:,}: {exc}")
                    unread += end - start
                    expected = end
                    continue
                recs = recs.copy()
                problem = refused_at(recs, pid)
                if problem is not None:
                    first, refusal = problem
                    got.refused += len(recs) - first + sum(r.count for r in mine if r.first >= end)
                    got.errors.append(f"{SPILL}: {refusal.line()}")
                    recs = recs[:first]
                if (start > expected or unread) and len(recs):
                    got.lost += start - expected
                    parts.append(_loss(pid, int(recs["tid"][0]), int(recs["ts"][0]), start - expected + unread))
                    unread = 0
                shift_records(recs, ring["id_shift"])
                mark_derived(recs)
                recs["pid"] = pid
                parts.append(recs)
                got.recovered += len(recs)
                expected = end
                if problem is not None:
                    break
    got.skipped_runs = sum(1 for r in found if r.tag not in rings)
    if parts:
        records = np.concatenate(parts)
        got.records = records[np.argsort(records["ts"], kind="stable")]
    return got


def _calls(records: np.ndarray, first_id: int) -> dict:
    """The recovered records' calls, with ids after every id on disk."""
    corr = Correlator(adopt_roots=True)
    corr.feed(records["ts"].astype(np.int64), records["pid"], records["tid"], records["kind"], records["code"],
              records["line"], records["flags"], records["arg"])
    corr.finish()
    cols = corr.drain(everything=True)
    cols["call_id"] = np.asarray(cols["call_id"]) + first_id - 1
    parent = np.asarray(cols["parent_id"])
    cols["parent_id"] = np.where(parent == NULL, NULL, parent + first_id - 1)
    return cols


def _column_counts(d: Folder, files: list[str], column: str) -> dict[str, int]:
    counts: Counter = Counter()
    for f in files:
        with d.reading(f) as src:
            col = pq.read_table(src, columns=[column])[column]
        for v in pc.value_counts(pc.cast(col, pa.string())).to_pylist():
            counts[v["values"]] += v["counts"]
    return dict(counts)


@dataclass
class RecoverResult:
    folder: Path
    recovered: Recovered
    calls: int


def recover(folder: Path | str) -> RecoverResult:
    """Index what the spill of a killed collector holds into the recording in
    ``folder`` and finish it (session.json); the spill is removed after."""
    folder = Path(folder)
    d = Folder.open(folder)     # a link in the folder's place is refused; every file below is read and
    if d.exists("session.json"):        # written through it, no link followed (store/safeopen.py)
        raise RecordingError(f"{folder} is finished: nothing to recover",
                             "scope store verify checks it" if not d.exists(SPILL)
                             else f"its leftover {SPILL} can be removed")
    if not d.exists(SPILL):
        raise RecordingError(f"{folder} has no {SPILL}: nothing waited in the spill when its collector "
                             "stopped", FIX)
    rec = open_recording(folder)        # unfinished: read through its catalog
    writer = RecordingWriter.resume(folder)     # takes the folder's lock: refused while a collector runs
    try:
        with d.reading(SPILL) as spill:
            got = read_back(spill, read_rings(d))
        code = rec.code()
        names = {(p, c): f for p, c, f in zip(code["pid"].to_pylist(), code["code_id"].to_pylist(),
                                                code["function"].to_pylist())}
        before = rec.calls(columns=["call_id"])
        first_id = (pc.max(before["call_id"]).as_py() or 0) + 1 if before.num_rows else 1
        ncalls = 0
        if len(got.records):
            writer.add_events(got.records)
            cols = _calls(got.records, first_id)
            ncalls = len(cols["call_id"])
            writer.add_calls(calls_table(cols, names))
        writer.flush()
        writer.write_table("code.parquet", code.cast(schema.CODE))
        writer.write_table("threads.parquet", schema.THREADS.empty_table())
        writer.write_table("processes.parquet", rec.processes().cast(schema.PROCESSES))
        ends = [e["max_ns"] for k in ("events", "calls") for e in writer.catalog.data[k]
                if e.get("max_ns") is not None]
        drops = {"lost_at_kill": got.lost, "spill_refused": got.refused,
                 "spill_unrecoverable": got.unrecoverable, "spill_unreadable": got.unreadable}
        meta = dict(writer.header, stopped_ns=max(ends, default=writer.header.get("started_ns", 0)),
                    stop_reason="collector killed; recovered from its spill",
                    drops={k: v for k, v in drops.items() if v},
                    counts={"events": _column_counts(d, writer.segments, "kind"),
                            "calls": _column_counts(d, writer.calls_segments, "status")},
                    recovered={"records": got.recovered, "calls": ncalls, "lost_at_kill": got.lost,
                               "runs_of_other_rings": got.skipped_runs},
                    errors=got.errors)
        writer.write_session(meta, flush=False)
    finally:
        writer.close()
    d.unlink(SPILL)
    d.unlink(SPILL_RINGS)
    return RecoverResult(folder, got, ncalls)
