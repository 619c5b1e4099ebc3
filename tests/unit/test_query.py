"""Query results against numbers computed by hand."""
import pytest

from scope import kinds
from scope.errors import UsageError
from scope.store import query
from scope.store.reader import open_recording

from .recording import START, write_recording

C, R = kinds.CALL, kinds.RETURN
S = START
# thread 1: main [0, 1000] calls work three times: 100, 200, 400 ns; work calls leaf once (50 ns)
EVENTS = [
    (S + 0, 1, C, 1),
    (S + 100, 1, C, 2), (S + 200, 1, R, 2),
    (S + 300, 1, C, 2), (S + 320, 1, C, 3), (S + 370, 1, R, 3), (S + 500, 1, R, 2),
    (S + 550, 1, C, 2), (S + 950, 1, R, 2),
    (S + 1000, 1, R, 1),
    # thread 2: a return whose entry was not seen, then one gc
    (S + 2_000_000_000, 2, R, 2), (S + 2_500_000_000, 2, kinds.GC_START, 0),
]
CODE = {1: ("main", "/app/main.py"), 2: ("work", "/app/work.py"), 3: ("leaf", "/lib/leaf.py")}


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return open_recording(write_recording(tmp_path_factory.mktemp("q") / "r", EVENTS, CODE))


def test_top_numbers(rec):
    rows = {r["function"]: r for r in query.top(rec, query.Filters()).to_pylist()}
    assert [r["function"] for r in query.top(rec, query.Filters()).to_pylist()] == ["main", "work", "leaf"]
    w = rows["work"]
    assert w["calls"] == 4                  # includes the one whose start was not seen
    assert w["total_ns"] == 100 + 200 + 400
    assert w["self_ns"] == 100 + 150 + 400
    assert w["mean_ns"] == 233
    assert (w["p50_ns"], w["p95_ns"], w["p99_ns"]) == (200, 400, 400)
    assert rows["main"]["self_ns"] == 1000 - 700
    assert rows["leaf"]["total_ns"] == 50 and rows["leaf"]["file"] == "/lib/leaf.py"


def test_slowest(rec):
    rows = query.slowest(rec, query.Filters(), 2).to_pylist()
    assert [(r["function"], r["duration_ns"]) for r in rows] == [("main", 1000), ("work", 400)]


def test_filters(rec):
    f = query.Filters
    assert query.events(rec, f(tid=2)).num_rows == 2
    assert query.events(rec, f(kinds=("gc_start",)))["time_s"].to_pylist() == [2.5]
    assert query.events(rec, f(function="w*", kinds=("return",))).num_rows == 4
    assert query.events(rec, f(file="/lib/*")).num_rows == 2
    assert query.events(rec, f(since="1", until="2.2")).num_rows == 1
    assert query.calls(rec, f(function="leaf"))["duration_ns"].to_pylist() == [50]
    assert query.top(rec, f(pid=99)).num_rows == 0        # empty is not an error


def test_wall_clock_since(rec):
    # realtime anchor is 1_700_000_000 s at the start
    import datetime as dt
    when = dt.datetime.fromtimestamp(1_700_000_001.5, dt.UTC).isoformat()
    assert query.events(rec, query.Filters(since=when)).num_rows == 2


def test_bad_time(rec):
    with pytest.raises(UsageError, match="cannot read time"):
        query.events(rec, query.Filters(since="yesterday"))


def test_what_derives_from_the_code_table_is_worked_out_once(rec):
    """The filters every query applies (scope's own frames, idle frames) come
    from the code table; a finished recording's never changes."""
    seen = []

    def derive(code):
        seen.append(code.num_rows)
        return code.num_rows
    assert rec.from_code(derive) == rec.from_code(derive) == len(CODE)
    assert seen == [len(CODE)]
