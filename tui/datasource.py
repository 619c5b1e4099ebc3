"""What the TUI asks of a recording, answered through the store's query layer
(catalog, pruned Parquet reads): the calls visible in a window, the moment at
T, top functions, a page of events. Never the whole recording in Python objects.

`RecordingSource` wraps a finished recording; `LiveSource` a recording in
progress (asked again on `refresh`). Tests hand the app either, or a fake
with the same methods.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ..errors import RecordingError
from ..store import catalog, filters, query, travel
from ..store.explain import explain
from ..store.filters import Filters
from ..store.fleet import describe, find_recordings, state_of
from ..store.live import open_live
from ..store.names import named_calls, plain_ids, with_names, without_scope
from ..store.reader import Recording, open_recording
from ..text import shown

# the columns the timeline reads of the calls table
ALL = Filters()      # no filter
BLOCK_COLUMNS = ["call_id", "parent_id", "depth", "pid", "tid", "code_id", "start_ns", "end_ns", "status", "kind"]


@dataclass(frozen=True)
class Lane:
    pid: int
    tid: int
    name: str


@dataclass(frozen=True)
class Block:
    call_id: int
    start: int
    end: int
    depth: int | None     # None: entered before capture began (an outer frame of unknown depth)
    name: str
    file: str
    status: str
    kind: str          # call / span


TEXT_COLUMNS = ("function", "file", "name", "value", "payload")


def _safe(table: pa.Table) -> pa.Table:
    """Every string the recording (or the target) chose, with its control
    characters shown escaped (scope.text.shown): a name with ESC or an OSC
    sequence must not reach the terminal, whatever widget draws it."""
    for name in TEXT_COLUMNS:
        if name in table.column_names and pa.types.is_string(table.schema.field(name).type):
            values = [None if v is None else shown(v) for v in table[name].to_pylist()]
            table = table.set_column(table.column_names.index(name), name, pa.array(values, pa.string()))
    return table


class RecordingSource:
    """A recording as the TUI sees it: every string it hands out is safe to show
    (`_safe`, `shown`)."""

    live = False

    def __init__(self, rec: Recording) -> None:
        self.rec = rec
        self.name = rec.folder.name
        self.start_ns = rec.start_ns
        self.stop_ns = int(rec.meta.get("stopped_ns") or rec.start_ns)
        self._lanes: list[Lane] | None = None
        self.problems: list[str] = []       # what could not be read at open, shown once the app is up
        shim = rec.meta.get("shim") or {}
        on = [t["ts"] for t in shim.get("tracing", []) if t.get("state") == "on"]
        # when the shim turned complete call capture on (None: no shim): before it,
        # no stack is known, and the Moment panel says when capture begins
        self.capture_from_ns: int | None = min(on) if shim.get("loaded") and on else None
        calls_from = (rec.meta.get("target") or {}).get("calls") or {}
        # calls without their entries (CPython 3.11's markers): stacks stay unknown.
        # Recordings from before `entries_seen`: 3.11 without the shim
        seen = calls_from.get("entries_seen")
        self.entries_unseen = seen is False if seen is not None else (
            not shim.get("loaded") and str((rec.meta.get("target") or {}).get("python_version")) == "3.11")

    def activity(self) -> tuple[int, int]:
        """Where the recording has calls: from the first call's start to the last
        one's end (scope's own left out) — the TUI's first view, so a short program
        in a long recording is not a sliver; the whole recording if it has none."""
        try:
            t = without_scope(self.rec.calls(columns=["pid", "code_id", "start_ns", "end_ns"]), self.rec.code())
        except Exception:       # noqa: BLE001 - a damaged segment: the whole recording (problems says why)
            return self.start_ns, self.stop_ns
        lo = pc.min(pc.coalesce(t["start_ns"], t["end_ns"])).as_py() if len(t) else None
        hi = pc.max(pc.coalesce(t["end_ns"], t["start_ns"])).as_py() if len(t) else None
        if lo is None or hi is None:
            return self.start_ns, self.stop_ns
        return max(self.start_ns, lo), min(max(hi, lo + 1), max(self.stop_ns, lo + 1))

    @classmethod
    def open(cls, path: Path | str) -> RecordingSource:
        """A recording, checked readable (its threads) before any screen opens. A
        damaged calls segment does not refuse it: the lanes come from the threads
        table, each view that needs the calls says what is damaged, and events,
        GC and the rest stay explorable (`problems` holds the first message)."""
        source = cls(open_recording(path))
        source.lanes()
        return source

    def refresh(self) -> bool:
        """Ask again (a live recording grows); False: nothing changes."""
        return False

    @property
    def drops(self) -> int:
        return sum((self.rec.meta.get("drops") or {}).values())

    def lanes(self) -> list[Lane]:
        """Every thread that ran calls, by process then thread; named where known."""
        if self._lanes is None:
            names = {(p, t): n for p, t, n in zip(*(self.rec.threads()[c].to_pylist()
                                                    for c in ("pid", "tid", "name")))}
            try:
                pairs = self.rec.calls(columns=["pid", "tid"]).group_by(["pid", "tid"]).aggregate([])
                ran = set(zip(pairs["pid"].to_pylist(), pairs["tid"].to_pylist()))
            except RecordingError as exc:       # a damaged calls segment: the events still tell
                self.problems.append(exc.line())
                pairs = self.rec.events(columns=["pid", "tid"], derive=False).group_by(["pid", "tid"]).aggregate([])
                ran = set(zip(pairs["pid"].to_pylist(), pairs["tid"].to_pylist()))
            seen = sorted(ran | set(names))
            self._lanes = [Lane(p, t, shown(names.get((p, t)) or f"tid {t}")) for p, t in seen]
        return self._lanes

    def blocks(self, lo: int, hi: int, *, min_ns: int, max_depth: int) -> dict[tuple[int, int], list[Block]]:
        """Calls and spans overlapping [lo, hi], at least min_ns long (or still
        running), at depth < max_depth: per (pid, tid), outermost first."""
        # start or end unknown (running at attach, or still running): long enough to show
        longer = (ds.field("duration_ns") >= min_ns) | ds.field("duration_ns").is_null()
        overlaps = ((ds.field("start_ns") <= hi) | ds.field("start_ns").is_null()) & (
            (ds.field("end_ns") >= lo) | ds.field("end_ns").is_null())
        shallow = ds.field("depth").is_null() | (ds.field("depth") < max_depth)
        t = self.rec.calls(lo, hi, columns=BLOCK_COLUMNS, where=overlaps & longer & shallow)
        t = named_calls(t, self.rec.code())
        out: dict[tuple[int, int], list[Block]] = {}
        cols = {c: t[c].to_pylist() for c in ("call_id", "pid", "tid", "start_ns", "end_ns", "depth",
                                              "function", "file", "code_id")}
        status = pc.cast(t["status"], pa.string()).to_pylist()
        kind = pc.cast(t["kind"], pa.string()).to_pylist()
        for i, cid in enumerate(cols["call_id"]):
            end = cols["end_ns"][i]
            if end is None:
                if status[i] not in ("open", "spans_gap"):
                    continue                  # broken: where it ended is unknown
                end = self.stop_ns
            name = shown(cols["function"][i] or f"<unknown #{cols['code_id'][i]}>")
            start = cols["start_ns"][i]
            out.setdefault((cols["pid"][i], cols["tid"][i]), []).append(Block(
                cid, self.start_ns if start is None else start, end, cols["depth"][i], name,
                shown(cols["file"][i] or ""), status[i], kind[i]))
        for blocks in out.values():
            blocks.sort(key=lambda b: (-1 if b.depth is None else b.depth, b.start))
        return out

    def gc_pauses(self, lo: int, hi: int) -> dict[tuple[int, int], list[tuple[int, int]]]:
        """(start, end) of each GC pause overlapping [lo, hi], per thread."""
        ev = self.rec.events(lo - 10**9, hi, kinds=("gc_start", "gc_done"))
        ev = ev.filter(pc.is_in(pc.cast(ev["kind"], pa.string()), value_set=pa.array(["gc_start", "gc_done"])))
        out: dict[tuple[int, int], list[tuple[int, int]]] = {}
        open_at: dict[tuple[int, int], int] = {}
        for ts, pid, tid, kind in zip(*(ev[c].to_pylist() for c in ("ts", "pid", "tid")),
                                      pc.cast(ev["kind"], pa.string()).to_pylist()):
            key = (pid, tid)
            if kind == "gc_start":
                open_at[key] = ts
            elif key in open_at:
                start = open_at.pop(key)
                if ts >= lo and start <= hi:
                    out.setdefault(key, []).append((start, ts))
        return out

    def marks(self, lo: int, hi: int) -> dict[tuple[int, int], list[tuple[int, int, str]]]:
        """What the lanes show beside the calls, per thread: (start, end, what) with
        what = "gc" (a GC pause), "mark" (a shim mark, a point), "offcpu" (an
        off-CPU interval, when recorded with --offcpu)."""
        out: dict[tuple[int, int], list[tuple[int, int, str]]] = {}
        for key, pauses in self.gc_pauses(lo, hi).items():
            out.setdefault(key, []).extend((s, e, "gc") for s, e in pauses)
        ev = self.rec.events(lo, hi, kinds=("mark",), columns=["ts", "pid", "tid", "kind"])
        ev = ev.filter(pc.equal(pc.cast(ev["kind"], pa.string()), "mark"))
        for ts, pid, tid in zip(*(ev[c].to_pylist() for c in ("ts", "pid", "tid"))):
            out.setdefault((pid, tid), []).append((ts, ts, "mark"))
        if self.rec.has("offcpu.parquet"):      # a link there: refused when read, not followed
            off = self.rec.offcpu()
            end = pc.add(off["start_ns"], off["duration_ns"])
            off = off.filter(pc.and_(pc.less_equal(off["start_ns"], hi), pc.greater_equal(end, lo)))
            for s, d, pid, tid in zip(*(off[c].to_pylist() for c in ("start_ns", "duration_ns", "pid", "tid"))):
                out.setdefault((pid, tid), []).append((s, s + d, "offcpu"))
        return out

    def density(self, cells: int) -> list[float]:
        """Events per cell over the whole recording, from the catalog alone (each
        segment's events spread over its time range — a calls segment's, those its
        rows stand for: store/derive.py): the minimap, at no cost."""
        cat = catalog.load(self.rec.dir) or {}
        span = max(self.stop_ns - self.start_ns, 1)
        out = [0.0] * cells
        entries = [(e, e.get("rows", 0)) for e in cat.get("events", [])] + [
            (e, e.get("events", 0)) for e in cat.get("calls", [])]
        for e, rows in entries:
            lo, hi = e.get("min_ns"), e.get("max_ns")
            if lo is None or hi is None or not isinstance(rows, int) or rows <= 0:
                continue
            c0 = min(max(int((lo - self.start_ns) * cells // span), 0), cells - 1)
            c1 = min(max(int((hi - self.start_ns) * cells // span), c0), cells - 1)
            for c in range(c0, c1 + 1):
                out[c] += rows / (c1 - c0 + 1)
        return out

    def moment(self, t: int) -> pa.Table:
        """Every thread's stack at t, the latest states, the open spans (store.travel.at)."""
        return _safe(travel.at(self.rec, t))

    def moment_and_previous(self, t: int) -> tuple[pa.Table, dict[tuple[int, str], str]]:
        """The moment at t, and each state's value before its latest (one read of the states)."""
        history = travel.state_history(self.rec, t)
        previous = {k: None if v is None else shown(v) for k, v in travel.previous_states(history).items()}
        return _safe(travel.at(self.rec, t, states=history)), previous

    def event_near(self, t: int, direction: int, lane: tuple[int, int] | None = None,
                   function: str | None = None) -> int | None:
        return _event_near(self.rec, self.stop_ns, t, direction, lane, function)

    def top(self) -> pa.Table:
        return _safe(query.top(self.rec, Filters()))

    def findings(self) -> tuple[list[dict], list[str]]:
        """`scope explain`'s findings, most severe first, their text escaped, with
        where each one's evidence is (``at``: pid, tid, start_ns, end_ns); and
        the notes on what could not be looked at."""
        report = explain(self.rec)
        rows = [{"severity": f.severity, "detector": f.detector, "title": shown(f.title),
                 "at_stake_ns": f.at_stake_ns, "share": f.share, "share_of": shown(f.share_of), "at": f.at}
                for f in report.findings]
        return rows, [shown(n) for n in report.notes]

    def slowest(self, n: int = 1, function: str | None = None) -> pa.Table:
        """The n longest calls (of one function, by its exact name)."""
        return _safe(query.slowest(self.rec, Filters(function=None if function is None
                                                     else query.exact_glob(function)), n))

    def _events(self, lo: int, hi: int, **how) -> pa.Table:
        """Events in [lo, hi]; with a damaged calls segment, those stored as such
        (the call and return events its rows stand for cannot be derived: said once)."""
        try:
            return self.rec.events(lo, hi, **how)
        except RecordingError as exc:
            t = self.rec.events(lo, hi, derive=False, **how)     # the events' own damage: raised
            if exc.line() not in self.problems:
                self.problems.append(exc.line())
            return t

    def events(self, since_ns: int, limit: int, f: Filters = ALL) -> pa.Table:
        """Up to `limit` events at or after since_ns matching f (its pid, tid,
        function, file, kinds), in time order, with their exact `ts` for the next
        page. Read in windows that widen until the page is full."""
        ids = f.code_keys(self.rec.code())
        plain = plain_ids(ids)
        width, parts, got = 10**8, [], 0
        lo = since_ns
        while got < limit and lo <= self.stop_ns:
            t = self._events(lo, lo + width - 1, kinds=f.kinds, code_ids=plain)
            mask = filters.mask(t, Filters(pid=f.pid, tid=f.tid), ids, t["ts"], self.rec)
            mask = pc.and_(mask, pc.and_(pc.greater_equal(t["ts"], lo), pc.less(t["ts"], lo + width)))
            if f.kinds:
                mask = pc.and_(mask, pc.is_in(pc.cast(t["kind"], pa.string()), value_set=pa.array(f.kinds)))
            t = t.filter(mask)
            parts.append(t)
            got += t.num_rows
            lo += width
            width *= 4
        t = pa.concat_tables(parts).sort_by([("ts", "ascending")]).slice(0, limit) if parts \
            else self.rec.events(0, -1)
        t = with_names(t, self.rec.code())
        return _safe(t.append_column("time_s", pc.divide(pc.cast(pc.subtract(t["ts"], self.start_ns), pa.float64()),
                                                          1e9)))

    def flame_calls(self, lo: int, hi: int, lane: tuple[int, int] | None = None) -> pa.Table:
        """Calls that started in [lo, hi] (of one thread, or all), with names: the
        flame graph's input (aggregated vectorised, tui/flame.py)."""
        where = None if lane is None else (ds.field("pid") == lane[0]) & (ds.field("tid") == lane[1])
        t = self.rec.calls(lo, hi, by_start=True, where=where,
                           columns=["call_id", "parent_id", "pid", "code_id", "start_ns", "duration_ns", "kind"])
        t = t.filter(pc.fill_null(pc.and_(pc.greater_equal(t["start_ns"], lo), pc.less_equal(t["start_ns"], hi)),
                                  False))
        return _safe(named_calls(t, self.rec.code()))

    def span_at(self, pid: int, tid: int, t: int) -> tuple[str, int, int] | None:
        """The innermost span of a thread open at t: (name, start, end; the stop if
        it never ended)."""
        spans = [r for r in self.moment(t).to_pylist()
                 if r["section"] == "span" and (r["pid"], r["tid"]) == (pid, tid)]
        if not spans:
            return None
        s = max(spans, key=lambda r: r["since_s"])
        row = self.rec.calls(where=ds.field("call_id") == s["call_id"], columns=["start_ns", "end_ns"])
        start, end = row["start_ns"][0].as_py(), row["end_ns"][0].as_py()
        return shown(s["name"] or "?"), start, self.stop_ns if end is None else end

    def call_tree(self, pid: int, tid: int, lo: int, hi: int, *, limit: int = 5000) -> pa.Table:
        """The calls of one thread that started in [lo, hi] (at most `limit`, longest kept),
        with names: the call tree's rows."""
        t = self.rec.calls(lo, hi, by_start=True,
                           where=(ds.field("pid") == pid) & (ds.field("tid") == tid))
        t = t.filter(pc.fill_null(pc.and_(pc.greater_equal(t["start_ns"], lo),
                                          pc.less_equal(t["start_ns"], hi)), False))
        if t.num_rows > limit:
            t = t.sort_by([("duration_ns", "descending")]).slice(0, limit)
        return _safe(named_calls(t, self.rec.code()).sort_by([("start_ns", "ascending")]))


class LiveSource(RecordingSource):
    """A recording in progress: its collector's hot tier too, asked again on refresh."""

    live = True

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._open = open_live
        super().__init__(open_live(self.path))

    def refresh(self) -> bool:
        self.rec = self._open(self.path)
        self.stop_ns = int(self.rec.meta.get("stopped_ns") or self.rec.start_ns)
        self._lanes = None
        return True


def _event_near(rec: Recording, stop_ns: int, t: int, direction: int, lane: tuple[int, int] | None,
                function: str | None) -> int | None:
    """The time of the nearest event after (direction 1) or before (-1) t: of one
    thread, or the entry of a call of one function; windows widen until found."""
    ids = None
    if function is not None:
        code = rec.code()
        keep = pc.equal(code["function"], function)
        ids = set(code.filter(keep)["code_id"].to_pylist())
        if not ids:
            return None
    width = 10**6
    start = rec.meta.get("started_ns", rec.start_ns)
    while True:
        lo, hi = (t + 1, t + width) if direction > 0 else (t - width, t - 1)
        ev = rec.events(lo, hi, kinds=("call",) if ids else (), code_ids=ids,
                        columns=["ts", "pid", "tid", "kind"])
        mask = pc.and_(pc.greater_equal(ev["ts"], lo), pc.less_equal(ev["ts"], hi))
        if lane is not None:
            mask = pc.and_(mask, pc.and_(pc.equal(ev["pid"], lane[0]), pc.equal(ev["tid"], lane[1])))
        if ids:
            mask = pc.and_(mask, pc.equal(pc.cast(ev["kind"], pa.string()), "call"))
        hits = ev.filter(mask)["ts"]
        if len(hits):
            return (pc.min if direction > 0 else pc.max)(hits).as_py()
        if (direction > 0 and hi >= stop_ns) or (direction < 0 and lo <= start):
            return None
        width *= 8


class StoreSource:
    """A folder of recordings: the TUI opens on the list."""

    def __init__(self, root: Path | str | list, *, live: bool = False) -> None:
        """A store root, or a list of recordings and roots (scope tui DIR DIR…)."""
        roots = [Path(p) for p in root] if isinstance(root, list) else [Path(root)]
        self.root = roots[0] if len(roots) == 1 else Path(f"{len(roots)} folders")
        self.live = live
        self.paths = [p for r in roots for p in find_recordings(r)]

    def recordings(self) -> list[dict]:
        return [dict(describe(p), recording=str(p)) for p in self.paths]

    def open(self, path: str) -> RecordingSource:
        if self.live and state_of(Path(path), None) == "recording":
            return LiveSource(path)
        return RecordingSource.open(path)
