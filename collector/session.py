"""A recording session: attach, poll, correlate, store, and detach on every exit path.

`Session` runs the loop and owns its parts, each of which keeps its own state
and reports its own share of session.json: the shim's rings (shimrings.py), the
shim's tracing (tracing.py), counts (tally.py), names (namebook.py), the
capture schedule (capture.py), processes (follow.py) and threads
(threads.py). `finish` (finish.py) and the live server (live.py) read the
session through its public parts and methods only.
"""
from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from scope import kinds

from ..errors import AttachError
from ..probes.loader import ProbeSet
from ..probes.plan import ProbeChoice
from ..probes.program import site_groups
from ..probes.target import Target
from ..store.build import app_events_table
from ..store.writer import RecordingWriter
from .app import MessagePairer, RingAnnouncement, SpanPairer, TracingChange, decode_app
from .bpfrings import RingReader
from .callsink import CallSink
from .capture import Capture
from .context import KernelContext
from .correlate import Correlator
from .finish import SessionResult, finish
from .follow import Processes, alive, release
from .identity import Identity
from .live import LiveServer, snapshot
from .namebook import NameBook
from .names import decode_names
from .options import RecordingOptions
from .shimrings import ShimRings
from .shmring import EVENT, stood_for
from .status import StatusLine
from .tables import filtered_out
from .tally import Tally
from .threads import ThreadTracker
from .tracing import ShimTracing

POLL_MS = 100
LIVE_S = 10.0          # a live reader asked within this long: hand out finished calls every poll
SAY_BACKLOG = 1_000_000   # a backlog this large at the stop (a second or more to index): say so
ROLL_EVENTS = 4_000_000   # ...and after this many events (~2M calls): the collector's memory is
                          # bounded by a count, not only by time (tests/RELIABILITY.md)


class Session:
    """Records one target process (and the children it follows) into one recording folder."""

    def __init__(self, target: Target, plan: list[ProbeChoice], folder: Path,
                 options: RecordingOptions | None = None, *,
                 is_alive: Callable[[], bool] | None = None, status: StatusLine | None = None,
                 exit_code: Callable[[], int | None] | None = None):
        self.target = target
        self.plan = plan
        self.options = opt = options or RecordingOptions()
        self.is_alive = is_alive or (lambda: alive(target.pid))
        self.exit_code = exit_code or (lambda: None)
        self.status = status or StatusLine(enabled=False)
        used = {c.marker for c in plan if c.use}
        sites = [s for s in target.sites if s.marker in used]
        self.shim = any(s.provider == "scope" for s in sites)
        self.probes = ProbeSet(site_groups(sites), target.pid, self.config)
        # segments are written at the session's rolls only (when the writer is full too):
        # each roll then says how far every ring is on disk (the spill's recovery point)
        self.writer = RecordingWriter(folder, hold=opt.flight is not None,
                                      window_ns=None if opt.flight is None
                                      else opt.flight.window_ns + opt.flight.after_ns + 10**9,
                                      auto_flush=False)
        self.calls = CallSink(self.writer, min_duration_ns=opt.min_duration_ns, call_filters=list(opt.call_filters),
                              keep_index=self.config.offcpu or self.config.syscalls is not None)
        # with the shim every entry is reported once tracing is on: parentless calls
        # can be adopted by the frame that was running when tracing started
        self.correlator = Correlator(adopt_roots=self.shim)
        self.errors: list[str] = []         # our own failures, kept in session.json
        self.rings = ShimRings(opt.min_duration_ns, opt.call_filters, max_backlog=opt.max_backlog,
                               spill_dir=self.writer.folder, max_spill=opt.max_spill,
                               recoverable=opt.flight is None)
        if opt.flight is None:      # each roll's listing says how far the rings are on disk
            self.writer.marks = self.rings.marks
        self.capture = Capture(opt.max_overhead, self.probes, self.rings.reading, self.errors)
        self.tracing = ShimTracing(self.capture)
        self.tally = Tally()
        self.names = NameBook()
        self.identity = Identity()          # same-named functions of the marker path told apart
        self.processes = Processes(target)
        self.threads = ThreadTracker()
        self.spans = SpanPairer()
        self.messages = MessagePairer()
        self.context = KernelContext()      # system calls and off-CPU time, attributed at the end
        self.flight_meta: dict | None = None      # what the flight recorder fired on, for session.json
        self.anchor = (0, 0)                # (monotonic, realtime) ns at attach: the clock's anchor
        self.described: dict = {}           # the target as session.json describes it, at attach
        self._live = None                   # collector.live.LiveServer, from attach()
        self._last_roll = time.monotonic()
        self._fed_since_roll = 0
        self._stop_reason: str | None = None
        self.indexed_after_stop_s = 0.0    # indexing the rings' backlog after capture stopped
        self._abandon = False               # a signal during that indexing: stop it
        self._stopped_ns: int | None = None

    # what finish and the live server read
    @property
    def config(self):
        """What the eBPF programs do (probes.program.ProgramConfig)."""
        return self.options.config

    @property
    def flight(self):
        """The flight recorder (collector.flight.FlightRecorder): hold, write on a trigger; or None."""
        return self.options.flight

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    @property
    def stopped_ns(self) -> int | None:
        return self._stopped_ns

    def stopped(self, ns: int | None = None) -> None:
        """Capture ends now (or at monotonic ``ns``): what finish dates the recording's end by."""
        self._stopped_ns = time.monotonic_ns() if ns is None else ns

    def request_stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
        elif reason == "signal" and self._stopped_ns is not None:
            # asked again while the backlog is indexed: stop indexing; what is left is
            # counted as not indexed (drops.not_indexed), never silently gone
            self._abandon = True

    def attach(self) -> None:
        """Attach the probes (before the target starts, for `scope run`)."""
        self.probes.attach()
        self.identity.remember(self.target.pid, root=self.target.root)   # its sources, read later
        self.anchor = (time.monotonic_ns(), time.time_ns())
        self.described = self.target.describe()
        # what a reader needs if this collector never finishes (catalog.py)
        self.writer.set_header({
            "host": socket.gethostname(), "started_ns": self.anchor[0],
            "clock": {"monotonic_ns": self.anchor[0], "realtime_ns": self.anchor[1]},
            "target": self.described})
        self.capture.start()
        try:
            self._live = LiveServer(self.writer.folder)
        except OSError as exc:     # live readers are a convenience; the recording goes on
            self.errors.append(f"live socket: {exc}")

    def record(self, *, on_attached: Callable[[], None] | None = None,
               on_signal: Callable[[int], None] | None = None) -> SessionResult:
        """Poll until stopped; then drain, detach, and write the recording."""
        handle = on_signal or (lambda _sig: self.request_stop("signal"))
        previous = {s: signal.signal(s, lambda sig, _frame: handle(sig))
                    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        if self.flight is not None and self.flight.wants_signal:
            previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, lambda _s, _f: self.flight.on_signal())
        start = time.monotonic()
        try:
            reader = RingReader(self.probes.bpf)
            if on_attached:
                on_attached()
            while self._stop_reason is None:
                reader.poll(0 if self.rings.backlog else POLL_MS)    # a backlog: index on
                try:
                    self.ingest(*reader.take())
                except Exception as exc:   # noqa: BLE001 — stop, but keep and finish what was recorded
                    self.errors.append(f"reading events: {type(exc).__name__}: {exc}")
                    self.request_stop("internal error")
                    break
                self._poll_chores(start)
            # detach first, so the target runs at full speed while we drain
            self.capture.stop()
            self.probes.detach_probes()
            seconds = time.monotonic() - start
            self.stopped()
            reader.poll(0)
            self.step("reading the last events", lambda: self.ingest(*reader.take()))
            self.step("indexing the backlog", lambda: self._index_backlog(start))
            drops = {**self._kernel_drops(), **self.rings.drops(), **self.table_drops()}
            self.rings.close()
        except BaseException:
            self._close_live()
            raise
        finally:
            self.probes.detach()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.status.clear()
        # the live socket stays until session.json is written: a reader that asks
        # meanwhile waits, then reads the finished recording (never a part of it)
        try:
            return finish(self, seconds, drops)
        finally:
            self._close_live()
            self.rings.remove_spill()    # its records are on disk: killed before this, recoverable

    def _index_backlog(self, start: float) -> None:
        """After capture stopped: what the drain took out of the rings and the
        session has not indexed yet (live readers still answered, segments still
        rolled); how long it took goes to session.json."""
        began = time.monotonic()
        self.rings.capture_stopped()
        if self.rings.backlog >= SAY_BACKLOG:
            self.status.say(f"scope: indexing the {self.rings.backlog:,} records taken from the target and "
                            "not yet indexed; another signal stops, counting the rest as not indexed")
        while self.rings.pending() and not self._abandon:
            self.ingest(np.zeros(0, EVENT), (), [])
            self._chores(start)
        self.indexed_after_stop_s = time.monotonic() - began

    def _poll_chores(self, start: float) -> None:
        """After each poll: the governor, rolls to disk, live readers, the status
        line, and whether to stop."""
        self.step("governing overhead", lambda: self.capture.step(
            self.processes.followed(), self.tally.calls_produced()))
        elapsed = self._chores(start)
        if self.flight is not None and self.flight.due(time.monotonic_ns()):
            self.request_stop("flight recorder")
        elif self.options.duration is not None and elapsed >= self.options.duration:
            self.request_stop("duration")
        elif not self.is_alive() and not (self.config.follow and self.processes.children_alive()):
            self.request_stop("target exited")

    def _chores(self, start: float) -> float:
        """Rolls to disk, live readers, the status line; returns the seconds since start."""
        if (time.monotonic() - self._last_roll >= self.options.write_every_s or self._fed_since_roll >= ROLL_EVENTS
                or self.writer.full):
            self._last_roll, self._fed_since_roll = time.monotonic(), 0
            self.step("writing finished calls", self._roll)
        elif self._drain_often():
            self.step("collecting finished calls", lambda: self.write_calls(self.correlator.drain()))
        if self._live is not None and self._live.pending():
            self.step("answering a live reader", self._answer_live)
        elapsed = time.monotonic() - start
        self.status.update(elapsed, self.tally.total(), self.tally.kernel_drops, self.writer.bytes_written,
                           backlog=self.rings.backlog, stopped=self._stopped_ns is not None)
        return elapsed

    def _drain_often(self) -> bool:
        """Finished calls to the hot tier every poll while a live reader watches
        (not under --max-overhead: a call's gap is known only once it closes).
        Less often otherwise: a completed top-level call stays adoptable by the
        frame it ran under (entered before attach) until it is handed out."""
        watched = self._live is not None and time.monotonic() - self._live.last_request < LIVE_S
        return (watched or self.flight is not None) and self.capture.governor is None

    def _answer_live(self) -> None:
        if self.capture.governor is None:    # finished calls to the hot tier: few left running
            self.write_calls(self.correlator.drain())
        self._live.answer(*snapshot(self))

    def _close_live(self) -> None:
        if self._live is not None:
            self._live.close()
            self._live = None

    def table_drops(self) -> dict[str, int]:
        """What the bounds on the tables the target feeds cost (collector/bounds.py)."""
        return {**self.names.drops(), **self.correlator.drops(), **self.threads.drops(),
                **self.spans.drops(), **self.messages.drops()}

    def _kernel_drops(self) -> dict[str, int]:
        return dict(zip(kinds.DROP_REASONS, self.probes.drop_counts()))

    def ingest(self, ev: np.ndarray, names: np.ndarray, app: list[bytes]) -> None:
        """One poll's records: names, kernel events, app events, the rings' calls."""
        if len(names):      # first: an exec event names its program through them
            rows = self.rings.images.shift_names(decode_names(names))
            self.identity.learn(rows)
            self.names.add(rows)
            if self.config.code_filter:
                self.probes.drop_code([r["code_id"] for r in rows if r["kind"] == "code"
                                       and filtered_out(r["function"], list(self.options.call_filters))])
        if len(ev):         # same-named functions of the marker path apart, before anything reads them
            ev, rows = self.identity.apply(ev)
            self.names.add(rows)
        if len(ev):      # then: a forked child waits, stopped, for its probes
            self._lifecycle(ev)
        # drops are counted here; where they happened, the loss markers in the
        # streams tell the correlator (kind loss), so no nesting is guessed across them
        self.tally.saw_drops(sum(self._kernel_drops().values()))
        if app:
            self._ingest_app(decode_app(app))
        if self.rings.reading:
            parts = [p for p in [ev, *self.rings.take()] if len(p)]
            if parts:
                ev = np.concatenate(parts)
        else:
            self.rings.take()        # rings read only to be counted
        ev = self.tracing.without_own(ev)
        if len(ev) and (self.config.tids or self.config.pids):
            ev = self._cut_threads(ev)
        if len(ev):
            if self.flight is not None:
                self.flight.check_events(ev, self.names.function_of)
            self.writer.add_events(ev)
            self.threads.feed(ev)
            self.tally.events(ev)
            self._correlate(ev)

    def _roll(self) -> None:
        """Warm segments: the names learnt, the calls finished so far and the pending
        events go to disk."""
        self.writer.add_code(self.names.since_roll(self.processes.followed()))   # empty: nothing written
        self.names.rolled()
        self.write_calls(self.correlator.drain())
        self.writer.add_events(stood_for(self.correlator.spell_calls(), self.correlator.first_line))
        self.writer.flush()
        self.rings.commit()      # what was taken is listed on disk now: its spill ranges can go

    def write_calls(self, cols: dict) -> None:
        """Finished calls to the call sink (the flight recorder sees them first)."""
        if self.tracing.switch_tids:
            # the switch thread's first calls (run, _loop) can be read from the ring before
            # the event naming that thread arrives; they never return, so they are cut here
            # (the events their rows stood for are stored as events: counted, kept)
            cols = self.calls.cut(cols, np.isin(cols["tid"], list(self.tracing.switch_tids)),
                                  self.correlator.first_line)
        if self.flight is not None:
            self.flight.check_calls(cols, self.names.function_of)
        self.calls.write(cols, self.names.function_of, self.capture.closed_gaps(), self.correlator.first_line)

    def _lifecycle(self, ev: np.ndarray) -> None:
        for e in ev[(ev["kind"] == kinds.FORK) | (ev["kind"] == kinds.EXEC) | (ev["kind"] == kinds.EXIT)]:
            kind, pid, ts = int(e["kind"]), int(e["pid"]), int(e["ts"])
            if kind == kinds.FORK:
                child = int(e["arg"])
                self.processes.forked(pid, child, ts, self.config.follow)
                if self.config.follow:
                    self.identity.inherit(child, pid)
                    self._follow(child)
            elif kind == kinds.EXEC:
                self.processes.execed(pid, ts, self.names.function_of.get((pid, int(e["code"]))))
            else:
                self.processes.exited(pid, ts)

    def _follow(self, child: int) -> None:
        self.threads.learn(child, child)       # held stopped: its own id is readable now
        try:
            self.probes.attach_pid(child)
        except AttachError:
            pass     # it exited before we could attach: its lifecycle is still recorded
        finally:
            release(child)

    def _cut_threads(self, ev: np.ndarray) -> np.ndarray:
        """--tid/--pid for calls from the shim's ring (the kernel cut the others)."""
        tids, pids = self.config.tids, self.config.pids
        calls = (ev["kind"] == kinds.CALL) | (ev["kind"] == kinds.RETURN)
        keep = ((not tids or np.isin(ev["tid"], tids)) & (not pids or np.isin(ev["pid"], pids))) | ~calls
        return ev if keep.all() else ev[keep]

    def _correlate(self, ev: np.ndarray) -> None:
        self.context.feed(ev)
        self._fed_since_roll += len(ev)
        self.correlator.feed(ev["ts"].astype(np.int64), ev["pid"], ev["tid"], ev["kind"],
                             ev["code"], ev["line"], ev["flags"], ev["arg"])

    def _ingest_app(self, rows: list[dict]) -> None:
        for r in rows:
            handler = _APP_HANDLERS.get(r["kind"])
            if handler is not None:
                handler(self, r)
            if r["name"]:
                self.names.app_id(r["name"])
        self.spans.feed(rows)
        self.messages.feed(rows)
        self.tally.app_events(rows)
        self.writer.add_events(app_events_table(rows, self.names.app_ids))

    def _on_tracing(self, r: dict) -> None:
        self.tracing.feed(TracingChange.of(r))

    def _on_ring(self, r: dict) -> None:
        self.rings.open(RingAnnouncement.of(r), self.capture.ring_opened)

    def step(self, what: str, fn) -> None:
        """One part of recording or finishing; a failure is kept in the metadata,
        the rest still done."""
        try:
            fn()
        except Exception as exc:   # noqa: BLE001 — the recording must survive our own bugs
            self.errors.append(f"{what}: {type(exc).__name__}: {exc}")


# app events the session acts on beyond storing them (spans and messages are
# paired by their own parts): kind -> handler
_APP_HANDLERS: dict[int, Callable[[Session, dict], None]] = {
    kinds.TRACING: Session._on_tracing,
    kinds.RING: Session._on_ring,
}
