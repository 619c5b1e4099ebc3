"""--at and --around against a hand-built recording with known answers."""
import pytest

from scope.store import travel
from scope.store.reader import open_recording

from .recording import START, write_recording
from .streams import tree_events

MAIN, HANDLE, PARSE, QUERY, IDLE = 1, 2, 3, 4, 5
CODE = {MAIN: ("main", "/app/main.py"), HANDLE: ("handle", "/app/web.py"), PARSE: ("parse", "/app/web.py"),
        QUERY: ("query", "/app/db.py"), IDLE: ("idle", "/app/main.py")}


@pytest.fixture
def rec(tmp_path):
    # thread 1: main -> handle -> (parse, query); thread 2: idle, all laid out 10 ns per step
    _, _, ev1 = tree_events([(MAIN, [(HANDLE, [(PARSE, []), (QUERY, [])])])], tid=1, t0=START + 1000)
    _, _, ev2 = tree_events([(IDLE, [])], tid=2, t0=START + 1020)      # idle: 1020-1030
    # an entry with no return: still running when the recording stopped
    open_call = [(START + 5000, 3, 1, MAIN)]
    return open_recording(write_recording(tmp_path / "rec", sorted(ev1 + ev2) + open_call, CODE))


def stacks(table):
    out = {}
    for r in table.to_pylist():
        if r["section"] == "stack":
            out.setdefault(r["tid"], []).append(r["name"])
    return out


def test_stack_at_each_moment(rec):
    # ev1: main@1000 handle@1010 parse@1020-1030 query@1040-1050 handle ends 1060, main 1070
    assert stacks(travel.at(rec, START + 1025)) == {1: ["main", "handle", "parse"], 2: ["idle"]}
    assert stacks(travel.at(rec, START + 1045)) == {1: ["main", "handle", "query"]}
    assert stacks(travel.at(rec, START + 1055)) == {1: ["main", "handle"]}
    assert stacks(travel.at(rec, START + 2000)) == {}
    assert stacks(travel.at(rec, START + 6000)) == {3: ["main"]}      # open: running at the end
    row = [r for r in travel.at(rec, START + 1045).to_pylist() if r["name"] == "query"][0]
    assert row["elapsed_ns"] == 5 and row["level"] == 2 and row["file"] == "/app/db.py"


def test_around_a_call(rec):
    calls = {r["function"]: r for r in travel.around(rec, 1).to_pylist()}   # call 1 is main
    assert calls["main"]["relation"] == "self"
    handle_id = calls["handle"]["call_id"]
    rows = travel.around(rec, handle_id).to_pylist()
    assert [(r["relation"], r["function"]) for r in rows] == [
        ("ancestor", "main"), ("self", "handle"), ("child", "parse"), ("child", "query")]
    parse_id = rows[2]["call_id"]
    rel = [(r["relation"], r["function"]) for r in travel.around(rec, parse_id).to_pylist()]
    assert rel == [("ancestor", "main"), ("ancestor", "handle"), ("self", "parse"), ("sibling", "query")]


def test_around_an_unknown_call(rec):
    from scope.errors import UsageError
    with pytest.raises(UsageError, match="no call 999"):
        travel.around(rec, 999)
