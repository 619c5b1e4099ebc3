"""A recording session: attach, poll, correlate, store, and detach on every exit path."""
from __future__ import annotations

import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from scope import kinds

from ..errors import AttachError
from ..probes.loader import ProbeSet
from ..probes.plan import ProbeChoice
from ..probes.program import ProgramConfig, site_groups
from ..probes.target import Target
from ..store.writer import RecordingWriter, app_events_table
from .app import MessagePairer, SpanPairer, decode_app
from .callsink import CallSink
from .correlate import Correlator, without_threads
from .finish import SessionResult, finish
from .follow import Processes, alive, release
from .governing import Capture
from .identity import Identity
from .images import APP_NAME_BASE, Images
from .live import LiveServer, snapshot
from .names import decode_names
from .reader import RingReader
from .shmring import EVENT, RingConsumer, RingError, RingRefused
from .status import StatusLine
from .tables import code_table, filtered_out
from .threads import ThreadTracker

POLL_MS = 100
ROLL_S = 5.0           # finished calls and pending events reach disk at least this often
LIVE_S = 10.0          # a live reader asked within this long: hand out finished calls every poll
ROLL_EVENTS = 4_000_000   # ...and after this many events (~2M calls): the collector's memory is
                          # bounded by a count, not only by time (tests/RELIABILITY.md)


class Session:
    """Records one target process into one recording folder."""

    def __init__(self, target: Target, plan: list[ProbeChoice], folder: Path, *,
                 config: ProgramConfig | None = None, duration: float | None = None,
                 is_alive: Callable[[], bool] | None = None, status: StatusLine | None = None,
                 exit_code: Callable[[], int | None] | None = None, min_duration_ns: int = 0,
                 call_filters: list[str] | None = None, max_overhead: float | None = None,
                 flight=None, write_every_s: float = ROLL_S):
        self.target = target
        self.plan = plan
        self.duration = duration
        self.is_alive = is_alive or (lambda: alive(target.pid))
        self.exit_code = exit_code or (lambda: None)
        self.min_duration_ns = min_duration_ns
        self.call_filters = list(call_filters or [])
        self.status = status or StatusLine(enabled=False)
        used = {c.marker for c in plan if c.use}
        sites = [s for s in target.sites if s.marker in used]
        self.config = config or ProgramConfig()
        self.probes = ProbeSet(site_groups(sites), target.pid, self.config)
        self.processes = Processes(target)
        self.syscalls: list[np.ndarray] = []   # SYSCALL records, attributed at the end
        self.flight = flight                # collector.flight.FlightRecorder: hold, write on a trigger
        self.writer = RecordingWriter(folder, hold=flight is not None, window_ns=None if flight is None
                                      else flight.window_ns + flight.after_ns + 10**9)
        self.calls = CallSink(self.writer, min_duration_ns=min_duration_ns, call_filters=call_filters,
                              keep_index=self.config.offcpu or self.config.syscalls is not None)
        self._last_roll = time.monotonic()
        self._roll_s = write_every_s        # --write-every
        self._fed_since_roll = 0
        self._names_rolled = self._apps_rolled = 0
        self.shim = any(s.provider == "scope" for s in sites)
        # with the shim every entry is reported once tracing is on: parentless calls
        # can be adopted by the frame that was running when tracing started
        self.correlator = Correlator(adopt_roots=self.shim)
        self.spans = SpanPairer()
        self.messages = MessagePairer()
        self.app_names: dict[str, int] = {}
        self.switch_tids: set[int] = set()
        self.tracing: list[dict] = []
        self.own_events = 0
        self.rings: list = []            # the shim's shared-memory rings (collector.shmring)
        # the programs each process ran (exec) and their code-id spaces (collector.images);
        # rings of programs past that space are read only to count what they carry as dropped
        self.images = Images()
        self.identity = Identity()          # same-named functions of the marker path told apart
        self.reexec_rings: list = []
        self.ring_errors: list[str] = []
        self.refused_rings: list = []    # rings whose target broke their rules (collector.shmring.RingRefused)
        self.errors: list[str] = []         # our own failures, kept in session.json
        self.capture = Capture(max_overhead, self.probes, self.rings, self.errors)   # --max-overhead
        self.offcpu: list[tuple] = []       # (pid, tid, start, ns, reason, syscall, call id)
        self._ring_drops_seen = 0
        self.threads = ThreadTracker()
        self.kind_counts: Counter = Counter()
        self.shim_errors: Counter = Counter()   # failures the shim swallowed, by reason
        self.names: list[dict] = []
        self.function_of: dict[tuple[int, int], str] = {}   # (pid, code id) -> function
        self._drops_seen = 0
        self._stop_reason: str | None = None
        self.live = None                    # collector.live.LiveServer, from attach()
        self.flight_meta: dict | None = None      # what the flight recorder fired on, for session.json

    def request_stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason

    def attach(self) -> None:
        """Attach the probes (before the target starts, for `scope run`)."""
        self.probes.attach()
        self.identity.remember(self.target.pid, root=self.target.root)   # its sources, read later
        self.anchor = (time.monotonic_ns(), time.time_ns())
        # what a reader needs if this collector never finishes (catalog.py)
        self.writer.set_header({
            "host": socket.gethostname(), "started_ns": self.anchor[0],
            "clock": {"monotonic_ns": self.anchor[0], "realtime_ns": self.anchor[1]},
            "target": self.target.describe()})
        self.capture.start()
        try:
            self.live = LiveServer(self.writer.folder)
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
                reader.poll(POLL_MS)
                try:
                    self._ingest(*reader.take())
                except Exception as exc:   # noqa: BLE001 — noqa: BLE001 — stop, but keep and finish what was recorded
                    self.errors.append(f"reading events: {type(exc).__name__}: {exc}")
                    self.request_stop("internal error")
                    break
                self._step("governing overhead", lambda: self.capture.step(
                    self.processes.followed(),
                    self.kind_counts["call"] + self.kind_counts["return"] + self._drops_seen))
                if time.monotonic() - self._last_roll >= self._roll_s or self._fed_since_roll >= ROLL_EVENTS:
                    self._last_roll, self._fed_since_roll = time.monotonic(), 0
                    self._step("writing finished calls", self._roll)
                elif self._drain_often():
                    self._step("collecting finished calls", lambda: self._write_calls(self.correlator.drain()))
                if self.live is not None and self.live.pending():
                    self._step("answering a live reader", self._answer_live)
                elapsed = time.monotonic() - start
                self.status.update(elapsed, sum(self.kind_counts.values()),
                                   self._drops_seen, self.writer.bytes_written)
                if self.flight is not None and self.flight.due(time.monotonic_ns()):
                    self.request_stop("flight recorder")
                elif self.duration is not None and elapsed >= self.duration:
                    self.request_stop("duration")
                elif not self.is_alive() and not (self.config.follow and self.processes.children_alive()):
                    self.request_stop("target exited")
            # detach first, so the target runs at full speed while we drain
            self._close_live()
            self.capture.stop()
            self.probes.detach_probes()
            seconds = time.monotonic() - start
            self._stopped_ns = time.monotonic_ns()
            reader.poll(0)
            self._step("reading the last events", lambda: self._ingest(*reader.take()))
            drops = self._drop_counts()
            if self.rings or self.refused_rings:
                drops[kinds.SHIM_RING_FULL] = self._ring_drops_seen
            if self.refused_rings:
                # what refused rings published or dropped after they were refused, as far as
                # their (untrusted, plausibility-checked) headers tell
                drops["ring_refused"] = sum(r.unread() for r in self.refused_rings)
            if self.reexec_rings or self.images.names_left_out:
                for ring in self.reexec_rings:
                    ring.discard()
                drops["reexec_calls"] = sum(r.discarded + r.dropped for r in self.reexec_rings)
                drops["reexec_names"] = self.images.names_left_out
            for ring in self.rings + self.reexec_rings + self.refused_rings:
                ring.close()
        finally:
            self._close_live()
            self.probes.detach()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.status.clear()
        return self._finish(seconds, drops)

    def _drain_often(self) -> bool:
        """Finished calls to the hot tier every poll while a live reader watches
        (not under --max-overhead: a call's gap is known only once it closes).
        Less often otherwise: a completed top-level call stays adoptable by the
        frame it ran under (entered before attach) until it is handed out."""
        watched = self.live is not None and time.monotonic() - self.live.last_request < LIVE_S
        return (watched or self.flight is not None) and self.capture.governor is None

    def _answer_live(self) -> None:
        if self.capture.governor is None:    # finished calls to the hot tier: few left running
            self._write_calls(self.correlator.drain())
        self.live.answer(*snapshot(self))

    def _close_live(self) -> None:
        if self.live is not None:
            self.live.close()
            self.live = None

    def _drop_counts(self) -> dict[str, int]:
        return dict(zip(kinds.DROP_REASONS, self.probes.drop_counts()))

    def _ingest(self, ev: np.ndarray, names: np.ndarray, app: list[bytes]) -> None:
        if len(names):      # first: an exec event names its program through them
            rows = self.images.shift_names(decode_names(names))
            self.identity.learn(rows)
            self._add_names(rows)
            if self.config.code_filter:
                self.probes.drop_code([r["code_id"] for r in rows if r["kind"] == "code"
                                       and filtered_out(r["function"], self.call_filters)])
        if len(ev):         # same-named functions of the marker path apart, before anything reads them
            ev, rows = self.identity.apply(ev)
            self._add_names(rows)
        if len(ev):      # then: a forked child waits, stopped, for its probes
            self._lifecycle(ev)
        # drops are counted here; where they happened, the loss markers in the
        # streams tell the correlator (kind loss), so no nesting is guessed across them
        self._drops_seen = max(sum(self._drop_counts().values()), self._drops_seen)
        if app:
            self._ingest_app(decode_app(app))
        if self.rings:
            parts = [p for p in [ev] + [self._take(ring) for ring in list(self.rings)] if len(p)]
            if parts:
                ev = np.concatenate(parts)
            self._ring_drops_seen = max(sum(r.dropped for r in self.rings), self._ring_drops_seen)
        for ring in self.reexec_rings:
            ring.discard()
        if len(ev) and self.switch_tids:
            # the shim's switch thread polls (sleeps, and 3.12+ traces it): not the app's
            own = np.isin(ev["tid"], list(self.switch_tids)) & np.isin(
                ev["kind"], (kinds.CALL, kinds.RETURN, kinds.SYSCALL, kinds.OFFCPU))
            if own.any():
                self.own_events += int(own.sum())
                ev = ev[~own]
        if len(ev) and (self.config.tids or self.config.pids):
            ev = self._cut_threads(ev)
        if len(ev):
            if self.flight is not None:
                self.flight.check_events(ev, self.function_of)
            self.writer.add_events(ev)
            self.threads.feed(ev)
            counts = np.bincount(ev["kind"])
            self.kind_counts.update({kinds.NAMES.get(k, str(k)): int(counts[k]) for k in np.flatnonzero(counts)})
            if len(counts) > kinds.SHIM_ERROR and counts[kinds.SHIM_ERROR]:
                reasons = ev["arg"][ev["kind"] == kinds.SHIM_ERROR]
                self.shim_errors.update(kinds.SHIM_ERRORS.get(int(r), f"reason_{r}") for r in reasons)
            self._correlate(ev)

    def _add_names(self, rows: list[dict]) -> None:
        self.names.extend(rows)
        self.function_of.update(((r["pid"], r["code_id"]), r["function"]) for r in rows)

    def _roll(self) -> None:
        """Warm segments: the names learnt, the calls finished so far and the pending
        events go to disk."""
        self.writer.add_code(self.new_names())          # an empty table writes nothing
        self._names_rolled, self._apps_rolled = len(self.names), len(self.app_names)
        self._write_calls(self.correlator.drain())
        self.writer.flush()

    def new_names(self):
        """The code table of the names learnt since the last roll (not on disk yet)."""
        apps = list(self.app_names.items())[self._apps_rolled:]
        return code_table(self.names[self._names_rolled:], dict(apps), self.processes.followed(), {})

    def _write_calls(self, cols: dict) -> None:
        if self.switch_tids:
            # the switch thread's first calls (run, _loop) can be read from the ring before
            # the event naming that thread arrives; they never return, so they are cut here
            cols = without_threads(cols, self.switch_tids)
        if self.flight is not None:
            self.flight.check_calls(cols, self.function_of)
        self.calls.write(cols, self.function_of, self.capture.closed_gaps())

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
                self.processes.execed(pid, ts, self.function_of.get((pid, int(e["code"]))))
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
        sc = ev["kind"] == kinds.SYSCALL
        if sc.any():
            self.syscalls.append(ev[sc])
        off = ev["kind"] == kinds.OFFCPU
        for e in ev[off]:     # attributed to calls at the end (collector/offcpu.py)
            self.offcpu.append((int(e["pid"]), int(e["tid"]), int(e["ts"]), int(e["arg"]) * 1000,
                                kinds.OFF_REASONS.get(int(e["code"]), "?"), int(e["line"]), -1))
        self._fed_since_roll += len(ev)
        self.correlator.feed(ev["ts"].astype(np.int64), ev["pid"], ev["tid"], ev["kind"],
                             ev["code"], ev["line"], ev["flags"], ev["arg"])

    def _ingest_app(self, rows: list[dict]) -> None:
        for r in rows:
            if r["kind"] == kinds.TRACING:
                if r["parent"]:
                    self.switch_tids.add(r["parent"])
                state = r["ref"]
                if state == kinds.TRACING_PAUSED:
                    self.capture.shim_paused(r["pid"], r["ts"])
                elif state == kinds.TRACING_RESUMED:
                    self.capture.shim_resumed(r["pid"], r["ts"])
                if state not in (kinds.TRACING_SWITCH, kinds.TRACING_FORKED):     # not changes of state
                    self.tracing.append({"ts": r["ts"], "pid": r["pid"],
                                         "state": kinds.TRACING_STATES.get(state, str(state))})
            if r["kind"] == kinds.RING:
                self._open_ring(r)
            if r["name"] and r["name"] not in self.app_names:
                self.app_names[r["name"]] = APP_NAME_BASE + len(self.app_names)
        self.spans.feed(rows)
        self.messages.feed(rows)
        self.kind_counts.update(kinds.NAMES.get(r["kind"], str(r["kind"])) for r in rows)
        self.writer.add_events(app_events_table(rows, self.app_names))

    def _take(self, ring) -> np.ndarray:
        """A ring's new records; a ring whose target broke its rules is closed
        (its reason kept in ring_errors, what it had published and was not read
        counted as ring_refused), and the recording goes on without it."""
        try:
            return ring.take()
        except RingRefused as exc:
            self.ring_errors.append(exc.line())
            self.rings.remove(ring)
            self.refused_rings.append(ring)    # kept mapped, never read: what it loses is counted at the end
            return np.zeros(0, EVENT)

    def _open_ring(self, r: dict) -> None:
        if r["ref"] < 0:
            return      # a forked child's check
        try:    # the same fd number may hold a new program's ring (exec): the memfd tells
            inode = os.stat(f"/proc/{r['pid']}/fd/{r['ref']}").st_ino
        except OSError:
            inode = None    # RingConsumer says why
        if any(old.pid == r["pid"] and old.inode == inode for old in self.rings + self.reexec_rings):
            return      # a ring announced again
        try:
            ring = RingConsumer(r["pid"], r["ref"], r["parent"])
            shift = self.images.shift(r["pid"], r["task"])     # task: the program's token
            if shift is None:   # past the id space of one process's programs: counted, not read
                ring.header["configured"][0] = 1
                self.reexec_rings.append(ring)
                return
            ring.id_shift = shift
            ring.header["min_ns"][0] = self.min_duration_ns    # the shim filters from now on
            ring.header["filters"][0] = b"".join(f.encode() + b"\0" for f in self.call_filters) + b"\0"
            self.capture.ring_opened(ring)
            ring.header["configured"][0] = 1
            self.rings.append(ring)
        except RingError as exc:
            self.ring_errors.append(exc.line())

    def _step(self, what: str, fn) -> None:
        """One part of finishing; a failure is kept in the metadata, the rest still written."""
        try:
            fn()
        except Exception as exc:   # noqa: BLE001 — noqa: BLE001 — the recording must survive our own bugs
            self.errors.append(f"{what}: {type(exc).__name__}: {exc}")

    def _finish(self, seconds: float, drops: dict[str, int]) -> SessionResult:
        return finish(self, seconds, drops)
