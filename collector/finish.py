"""Finishing a recording: the last calls and spans, the flight recorder's window,
the tables written at the end, session.json, and compaction of a long one.
Every step is one `Session.step`: a failure is kept in session.json and the
rest is still written. The session is read through its public parts only;
each part gives its own share of session.json."""
from __future__ import annotations

import socket
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ..probes.syscalls import name_of
from ..store import schema
from ..store.build import spans_table
from ..store.compact import compact
from ..version import version
from .follow import end_with_their_process

COMPACT_AT = 12       # warm event segments (about a minute or 24M events) -> compact at the end


@dataclass
class SessionResult:
    folder: Path
    seconds: float
    stop_reason: str
    events_by_kind: dict[str, int]
    calls_by_status: dict[str, int]
    drops: dict[str, int]
    bytes_written: int
    threads: int
    target_exit_code: int | None = None
    meta: dict = field(default_factory=dict)

    @property
    def events(self) -> int:
        return sum(self.events_by_kind.values())


def _release_window(s) -> None:
    """A trigger fired: write the window held in the hot tier."""
    lo, hi = s.flight.window()
    evicted_until = s.writer.hot.evicted_until_ns
    left_out = s.writer.release(lo, hi)
    s.flight_meta.update(window_s=s.flight.window_ns / 1e9, after_s=s.flight.after_ns / 1e9,
                         from_ns=max(lo, evicted_until), until_ns=hi, left_out=left_out,
                         kept={"events": s.writer.events_written})


def _nothing_fired(s, seconds: float, drops: dict[str, int]) -> SessionResult:
    s.step("removing the unused folder", s.writer.discard)
    meta = {"flight_recorder": {"fired": False, "triggers": [t.text for t in s.flight.triggers]},
            "errors": s.errors, "drops": drops}
    return SessionResult(folder=s.writer.folder, seconds=seconds, stop_reason=s.stop_reason or "",
                         events_by_kind=dict(s.tally.by_kind), calls_by_status=dict(s.calls.statuses),
                         drops=drops, bytes_written=0, threads=len(s.threads), meta=meta)


def _last_calls(s) -> dict:
    """Every call still held; those whose process ended meanwhile ended with it."""
    cols = s.correlator.drain(everything=True)
    end_with_their_process(cols, s.processes.image_ends)
    return cols


def finish(s, seconds: float, drops: dict[str, int]) -> SessionResult:
    """Everything after the last poll, for the Session `s`; returns its result."""
    s.identity.close()          # every name is in: the sources' folders are let go
    s.correlator.finish()
    s.spans.finish()
    s.messages.finish()
    # the spans still open and the sends never received took their rows only now: counted again
    drops.update({**s.spans.drops(), **s.messages.drops()})
    w = s.writer
    s.step("writing the last events", w.flush_events)
    s.capture.closed_gaps(s.stopped_ns)
    s.step("writing calls", lambda: s.write_calls(_last_calls(s)))
    if s.spans.rows:
        # span ids follow every call id the correlator gave, kept or filtered out
        s.step("writing spans", lambda: w.add_calls(
            spans_table(s.spans.rows, s.correlator.issued + 1, s.names.app_ids)))
    if s.flight is not None:
        if s.flight.fired is None:     # nothing is written: the folder goes
            return _nothing_fired(s, seconds, drops)
        s.flight_meta = {"fired": True, **s.flight.fired.as_dict()}
        s.step("writing the flight recorder's window", lambda: _release_window(s))
        if w.hold:                 # that failed: keep everything held rather than nothing
            w.hold = False
            s.step("writing what the flight recorder held", w.flush)
    s.step("writing code", lambda: w.write_table("code.parquet", s.names.table(
        s.processes.followed(), s.correlator.first_line)))
    s.step("writing threads", lambda: w.write_table("threads.parquet", s.threads.table()))
    s.step("writing processes", lambda: w.write_table(
        "processes.parquet", s.processes.table(s.exit_code())))
    if s.messages.rows:
        s.step("writing messages", lambda: w.write_table(
            "messages.parquet", pa.Table.from_pylist(s.messages.rows, schema=schema.MESSAGES)))
    if s.config.offcpu:
        s.step("writing off-CPU intervals", lambda: w.write_table(
            "offcpu.parquet", s.context.offcpu_table(s.calls.index(), s.tracing.switch_tids)))
    if s.config.syscalls is not None:
        s.step("writing system calls", lambda: w.write_table(
            "syscalls.parquet", s.context.syscalls_table(s.calls.index(), s.tracing.switch_tids)))
    # the last calls before the drops are counted: a write that fails here loses rows too
    s.step("writing the last calls", w.flush)
    for kind, lost in w.not_written.items():        # a write that failed (a full disk…)
        if lost:
            drops[f"not_written_{kind}"] = lost
    statuses = dict(s.calls.statuses)
    span_statuses = dict(Counter(r["status"] for r in s.spans.rows))
    opt, tally = s.options, s.tally.meta()
    meta = {
        "host": socket.gethostname(),
        "target": s.described,
        "probes": [{"marker": c.marker, "used": c.use, "reason": c.reason} for c in s.plan],
        "attach_mode": s.config.attach,
        "clock": {"monotonic_ns": s.anchor[0], "realtime_ns": s.anchor[1]},
        "started_ns": s.anchor[0],
        "stopped_ns": s.stopped_ns,
        "stop_reason": s.stop_reason,
        "indexed_after_stop_s": round(s.indexed_after_stop_s, 3),
        "counts": {"events": tally["events"], "calls": statuses, "spans": span_statuses},
        "shim": {"loaded": s.shim, **s.tracing.meta(), **s.rings.meta(s.shim), "errors": tally["shim_errors"]},
        "drops": drops,
        "identity": s.identity.summary(),     # what identity.py told apart, and what it could not
        "min_duration_ns": opt.min_duration_ns,
        "call_filters": list(opt.call_filters),
        "follow": s.config.follow,
        "gaps": s.capture.gaps,
        "governor": s.capture.meta(),
        "processes": len(s.processes),
        "syscalls": (None if s.config.syscalls is None
                     else [name_of(n) for n in s.config.syscalls] or "all"),
        "thread_filter": {"tids": list(s.config.tids), "pids": list(s.config.pids)},
        "errors": s.errors,
        "flight_recorder": s.flight_meta,
        "write_failure": w.write_failure,
        "scope_version": version(),
    }
    w.write_session(meta, flush=False)
    if len(w.segments) >= COMPACT_AT:
        s.step("compacting", lambda: compact(w.folder))
    return SessionResult(folder=w.folder, seconds=seconds, stop_reason=s.stop_reason or "",
                         events_by_kind=dict(s.tally.by_kind), calls_by_status=statuses,
                         drops=drops, bytes_written=w.bytes_written, threads=len(s.threads),
                         meta=meta)
