"""Several recordings (or a store root) in every query mode, on one wall-clock
time line: two hosts whose monotonic clocks differ by hours, started 2 s apart."""
import json

import pytest

from scope.cli import main

from .recording import START, write_recording
from .streams import tree_events

CODE = {1: ("main", "/app/main.py"), 2: ("work", "/app/work.py")}
WALL = 1_800_000_000 * 10**9
S = 10**9


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "store"
    # host a: monotonic START, work() at 1.0 s (3 calls); host b: a clock 5 h ahead,
    # started 2 s later in wall time, work() at 0.5 s of its own (5 calls) = 2.5 s
    b_start = START + 5 * 3600 * S
    _, _, ev_a = tree_events([(1, [(2, [])] * 3)], tid=1, t0=START + 1 * S)
    _, _, ev_b = tree_events([(1, [(2, [])] * 5)], tid=7, t0=b_start + S // 2)
    write_recording(root / "a", ev_a, CODE, host="a", realtime_ns=WALL)
    write_recording(root / "b", ev_b, CODE, start=b_start, host="b", realtime_ns=WALL + 2 * S)
    return root


def ask(capsys, *argv):
    assert main(["query", *argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_events_line_up_on_wall_time(store, capsys):
    rows = ask(capsys, "--parquet", str(store), "--kind", "call")
    assert [(r["recording"], r["host"]) for r in rows][:1] == [("a", "a")]
    firsts = {r["host"]: r["time_s"] for r in rows if r["function"] == "main"}
    assert firsts["a"] == pytest.approx(1.0) and firsts["b"] == pytest.approx(2.5)
    assert [r["time_s"] for r in rows] == sorted(r["time_s"] for r in rows)
    late = ask(capsys, "--parquet", str(store / "a"), str(store / "b"), "--since", "2", "--until", "3",
               "--kind", "call")
    assert {r["host"] for r in late} == {"b"} and len(late) == 6


def test_top_sums_over_recordings_and_calls_keep_their_host(store, capsys):
    top = {r["function"]: r["calls"] for r in ask(capsys, "--parquet", str(store), "--top")}
    assert top == {"main": 2, "work": 8}
    calls = ask(capsys, "--parquet", str(store), "--calls", "--function", "work")
    assert [r["host"] for r in calls] == ["a"] * 3 + ["b"] * 5
    slow = ask(capsys, "--parquet", str(store), "--slowest", "1")
    assert len(slow) == 1 and slow[0]["function"] == "main" and slow[0]["host"] == "b"   # 5 children


def test_time_travel_across_recordings(store, capsys):
    rows = ask(capsys, "--parquet", str(store), "--at", "2.500000015")
    stacks = [(r["host"], r["name"]) for r in rows if r["section"] == "stack"]
    assert stacks == [("b", "main"), ("b", "work")]
    rows = ask(capsys, "--parquet", str(store), "--at", "1.000000015")
    assert [(r["host"], r["name"]) for r in rows if r["section"] == "stack"] == [("a", "main"), ("a", "work")]


def test_around_needs_one_recording_and_empty_stores_are_clear(store, tmp_path, capsys):
    assert main(["query", "--parquet", str(store), "--around", "1"]) == 2
    assert "one recording" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["query", "--parquet", str(tmp_path / "empty"), "--top"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no recordings" in err[0]
