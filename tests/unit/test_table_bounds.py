"""Every table the target feeds holds at most its capacity (collector/bounds.py):
each checked at capacity - 1, capacity and capacity + 1 entries, what is past it
counted by reason, what is kept exact. And the positive control: the same
table with its capacity out of reach grows with what the target sends."""
from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest

from scope import kinds
from scope.collector import bounds, identity
from scope.collector.bounds import capacity, name_cost
from scope.collector.correlate import Correlator, PyCorrelator, line_key
from scope.collector.identity import Identity
from scope.collector.images import IMAGE, MAX_IMAGES, Images
from scope.collector.namebook import APP_NAMES_FULL, CODE_NAMES_FULL, NameBook
from scope.collector.shmring import EVENT
from scope.collector.sourcedefs import definitions
from scope.collector.sources import Place
from scope.collector.threads import THREADS_FULL, ThreadTracker
from scope.errors import UsageError

PID = 4242


def row(i: int, pid: int = PID, name: str | None = None) -> dict:
    """A code name as decode_names gives it (same-length strings: the same cost each)."""
    name = name or f"f_{i:06d}"
    return {"code_id": 0xE0000000 + i, "pid": pid, "kind": "code", "file": f"/app/m{i:06d}.py",
            "function": name, "qualname": name, "truncated": False, "image": 1}


COST = name_cost(row(0)["file"], row(0)["qualname"])


# ---- code names: bounded by the bytes they take

@pytest.mark.parametrize("n,held,dropped", [(2, 2, 0), (3, 3, 0), (4, 3, 1)])
def test_code_names_at_their_bound(n, held, dropped):
    book = NameBook(max_bytes=3 * COST)
    book.add([row(i) for i in range(n)])
    assert len(book) == held and book.bytes == held * COST <= book.max_bytes
    assert book.drops() == ({CODE_NAMES_FULL: dropped} if dropped else {})
    # what is kept is exact; a name past the bound is unknown, never another's
    for i in range(n):
        want = f"f_{i:06d}" if i < held else None
        assert book.function_of.get((PID, 0xE0000000 + i)) == want
    table = book.table([], {})
    assert table["function"].to_pylist() == [f"f_{i:06d}" for i in range(held)]
    assert table["code_id"].to_pylist() == [0xE0000000 + i for i in range(held)]


def test_a_name_seen_again_is_neither_held_twice_nor_counted():
    book = NameBook(max_bytes=2 * COST)
    book.add([row(0), row(1)])
    book.add([row(0), row(1), dict(row(1), function="other", qualname="other")])
    assert len(book) == 2 and book.drops() == {} and book.function_of.get((PID, 0xE0000001)) == "f_000001"


def test_names_reach_each_roll_once_and_the_end_whole():
    book = NameBook(max_bytes=3 * COST)
    book.add([row(0), row(1)])
    assert book.since_roll([])["function"].to_pylist() == ["f_000000", "f_000001"]
    book.rolled()
    book.add([row(2), row(3)])        # row(3) past the bound
    assert book.since_roll([])["function"].to_pylist() == ["f_000002"]
    assert book.table([], {})["function"].to_pylist() == ["f_000000", "f_000001", "f_000002"]


def test_a_held_row_keeps_what_identity_gave_it():
    """Rows identity.py named from the source keep their qualified name and
    first line; a shim row's bare name is its qualified name's last part."""
    book = NameBook()
    book.add([dict(row(0, name="__init__"), qualname="Event.__init__", first_line=12),
              dict(row(1), function="g", qualname="f.<locals>.g"), dict(row(2), kind="name", file="", function="a.b",
                                                                         qualname="a.b")])
    t = book.table([], {}).to_pylist()
    assert [(r["function"], r["qualname"], r["first_line"]) for r in t] == [
        ("__init__", "Event.__init__", 12), ("g", "f.<locals>.g", None), ("a.b", "a.b", None)]


def test_the_cost_of_a_name_is_what_it_takes_to_hold():
    """name_cost is not a guess: 100,000 names held cost what it says, within 25 %
    (tracemalloc: the book's own allocations and the strings it keeps)."""
    rows = [row(i) for i in range(100_000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    book = NameBook(max_bytes=1 << 40)
    book.add([dict(r, file=r["file"][:-1] + "y", qualname=r["qualname"] + "x") for r in rows])
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert 0.75 * book.bytes < used < 1.25 * book.bytes, (used, book.bytes)


def test_positive_control_a_book_out_of_reach_grows_with_every_name():
    """The same churn (names that are all new) into a bounded book and into
    one whose bound is out of reach: the first stops at its bound, the second
    grows with every name; both measured by tracemalloc."""
    def fill(book: NameBook) -> int:
        tracemalloc.start()
        for batch in range(20):
            book.add([row(batch * 5_000 + i) for i in range(5_000)])
        used = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return used
    bounded, unbounded = NameBook(max_bytes=1 << 20), NameBook(max_bytes=1 << 40)
    small, large = fill(bounded), fill(unbounded)
    assert bounded.bytes <= 1 << 20 and small < 2 << 20 and bounded.drops()[CODE_NAMES_FULL] > 90_000
    assert len(unbounded) == 100_000 and large > 10 * small and unbounded.drops() == {}


# ---- app-event names: bounded by count

@pytest.mark.parametrize("n,given", [(2, 2), (3, 3), (4, 3)])
def test_app_names_at_their_bound(n, given):
    book = NameBook(max_app=3)
    ids = [book.app_id(f"mark{i}") for i in range(n)]
    assert [i for i in ids if i] == sorted(set(ids) - {0}) and len(book.app_ids) == given
    assert ids[given:] == [0] * (n - given)                  # 0: no name (unknown), never another's
    assert book.app_id("mark0") == ids[0]
    for _ in range(3):
        book.app_id(f"mark{n - 1}")                            # asked again: counted once
    assert book.drops() == ({APP_NAMES_FULL: 1} if n > given else {})


# ---- first lines: bounded by count, in both correlators alike

def calls_of(codes: list[int], tid: int = 1) -> dict:
    n = 2 * len(codes)
    kind = np.tile([kinds.CALL, kinds.RETURN], len(codes)).astype(np.int64)
    code = np.repeat(np.array(codes, np.int64), 2)
    return {"ts": np.arange(1, n + 1, dtype=np.int64), "pid": np.full(n, PID, np.int64),
            "tid": np.full(n, tid, np.int64), "kind": kind, "code": code, "line": code * 10}


@pytest.mark.parametrize("make", [Correlator, PyCorrelator], ids=["c", "python"])
@pytest.mark.parametrize("n,kept", [(2, 2), (3, 3), (4, 3)])
def test_first_lines_at_their_bound(make, n, kept):
    c = make(max_lines=3)
    ev = calls_of([*range(1, n + 1), 1, n])         # seen again: kept ones stay, a lost one is lost again
    c.feed(ev["ts"], ev["pid"], ev["tid"], ev["kind"], ev["code"], ev["line"])
    assert c.first_line == {line_key(PID, k): 10 * k for k in range(1, kept + 1)}
    lost = (c._py or c._engine).lines_dropped if isinstance(c, Correlator) else c.lines_dropped
    assert lost == (2 if n > kept else 0)           # each call of a code whose line was not kept
    c.finish()
    cols = c.to_columns()
    assert cols["status"] == [kinds.COMPLETE] * (n + 2)     # every call correlated all the same
    if isinstance(c, Correlator):
        assert c.drops() == ({"first_lines_full": 2} if n > kept else {})


# ---- the correlator's threads: an idle one is forgotten at a drain

@pytest.mark.parametrize("make", [Correlator, PyCorrelator], ids=["c", "python"])
def test_idle_threads_are_forgotten_at_a_drain(make):
    c = make()
    for tid in range(1, 2001):                      # 2,000 threads, each one call, then gone
        ev = calls_of([5], tid)
        c.feed(ev["ts"], ev["pid"], ev["tid"], ev["kind"], ev["code"], ev["line"])
    running = {k: np.array([v[0]]) for k, v in calls_of([7], 9999).items()}   # a call still running
    c.feed(running["ts"], running["pid"], running["tid"], running["kind"], running["code"], running["line"])
    assert c.threads() == 2001
    out = c.drain()
    assert len(out["call_id"]) == 2000 and c.threads() == 1
    assert c.top(PID, 9999) > 0 and c.top(PID, 1) == -1
    done = calls_of([7], 9999)                      # it returns: the thread's state was kept
    c.feed(done["ts"][1:] + 10, done["pid"][1:], done["tid"][1:], done["kind"][1:], done["code"][1:],
           done["line"][1:])
    assert c.drain()["status"] == [kinds.COMPLETE]


# ---- threads.parquet rows: bounded by count

def thread_events(tids: list[int]) -> np.ndarray:
    ev = np.zeros(len(tids), EVENT)
    ev["pid"], ev["tid"], ev["kind"], ev["ts"] = 1 << 30, tids, kinds.CALL, np.arange(1, len(tids) + 1)
    return ev


@pytest.mark.parametrize("n,rows", [(2, 2), (3, 3), (4, 3)])
def test_thread_rows_at_their_bound(n, rows):
    tracker = ThreadTracker(max_rows=3)
    tracker.feed(thread_events(list(range(1, n + 1))))
    tracker.feed(thread_events(list(range(1, n + 1))))       # seen again: counted once
    table = tracker.table()
    assert len(tracker) == rows and table["tid"].to_pylist() == list(range(1, rows + 1))
    assert table["events"].to_pylist() == [2] * rows           # a thread held is counted exactly
    assert tracker.drops() == ({THREADS_FULL: n - rows} if n > rows else {})


# ---- sources read (identity.py): the oldest let go; names told apart: bounded

GONE = 2**22 + 17


@pytest.fixture
def place(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    held = Place(fd, os.dup(fd), (0, 0, []))
    yield held
    held.close()


def marker_row(code_id: int, file: str, name: str) -> dict:
    return {"code_id": code_id, "pid": GONE, "kind": "code", "file": file, "function": name, "qualname": name,
            "truncated": False, "image": 0}


@pytest.mark.parametrize("n,cached", [(2, 2), (3, 3), (4, 3)])
def test_sources_held_at_their_bound(monkeypatch, place, n, cached):
    monkeypatch.setattr(identity, "SOURCE_FILES_MAX", 3)
    reads: list[str] = []

    def reader(pid, files, timeout):
        reads.extend(files)
        return {f: definitions("def f():\n    pass\n") for f in files}
    ident = Identity(reader=reader)
    ident.hold(GONE, place)
    for i in range(n):
        ident.learn([marker_row(i + 1, f"/app/{i}.py", "f")])
    assert len(ident._cache) == cached
    ident.learn([marker_row(100, f"/app/{n - 1}.py", "f")])    # the newest is held: not read again
    ident.learn([marker_row(101, "/app/0.py", "f")])           # the oldest was let go past the bound
    assert reads == [f"/app/{i}.py" for i in range(n)] + (["/app/0.py"] if n > cached else [])
    assert ident.summary()["named_from_source"] == n + 2      # every name resolved all the same


def test_past_the_budget_no_answer_is_held(place):
    ident = Identity(reader=lambda pid, files, timeout: {}, budget_s=0)
    ident.hold(GONE, place)
    ident.learn([marker_row(i + 1, f"/app/{i}.py", "f") for i in range(50)])
    assert ident._cache == {} and ident.summary()["unresolved"] == {"budget": 50}


@pytest.mark.parametrize("n,split", [(2, 2), (3, 3), (4, 3)])
def test_names_told_apart_at_their_bound(monkeypatch, place, n, split):
    monkeypatch.setattr(identity, "SPLITS_MAX", 3)
    two = "class A:\n    def f(self):\n        pass\nclass B:\n    def f(self):\n        pass\n"
    ident = Identity(reader=lambda pid, files, timeout: {f: definitions(two) for f in files})
    ident.hold(GONE, place)
    ident.learn([marker_row(i + 1, f"/app/{i}.py", "f") for i in range(n)])
    assert ident.summary()["told_apart"] == split
    assert ident.summary()["unresolved"] == ({"too many split names": n - split} if n > split else {})


# ---- program images per process: the id space's bound is the table's

def test_a_process_that_execs_for_ever_holds_a_bounded_table():
    images = Images()
    shifts = [images.shift(7, token) for token in range(MAX_IMAGES + 50)]
    assert shifts[:MAX_IMAGES] == [k * IMAGE for k in range(MAX_IMAGES)]
    assert shifts[MAX_IMAGES:] == [None] * 50 and len(images._gens[7]) == MAX_IMAGES
    assert images.shift(7, 0) == 0                         # a program seen before keeps its space


# ---- the capacities: constants, or root's environment for one run

def test_a_capacity_comes_from_its_constant_or_the_environment(monkeypatch):
    monkeypatch.delenv("SCOPE_NAMES_MAX_BYTES", raising=False)
    assert capacity("NAMES_MAX_BYTES") == bounds.NAMES_MAX_BYTES
    monkeypatch.setenv("SCOPE_NAMES_MAX_BYTES", "4096")
    assert capacity("NAMES_MAX_BYTES") == 4096 and NameBook().max_bytes == 4096
    monkeypatch.setenv("SCOPE_FIRST_LINES_MAX", "5")
    assert Correlator().drops() == {} and capacity("FIRST_LINES_MAX") == 5
    for bad in ("0", "-3", "lots", "1e9"):
        monkeypatch.setenv("SCOPE_NAMES_MAX_BYTES", bad)
        with pytest.raises(UsageError, match="SCOPE_NAMES_MAX_BYTES"):
            NameBook()
