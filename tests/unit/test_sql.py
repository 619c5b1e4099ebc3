"""--sql: DuckDB over the files of several recordings at once."""
import pytest

from scope.errors import UsageError
from scope.store.reader import open_recording
from scope.store.sql import run_sql

from .recording import START, write_recording
from .streams import tree_events

CODE = {1: ("main", "/app/main.py"), 2: ("work", "/app/work.py")}


@pytest.fixture
def recs(tmp_path):
    out = []
    for name, n in (("a", 3), ("b", 5)):
        _, _, ev = tree_events([(1, [(2, [])] * n)], tid=1, t0=START + 100)
        out.append(open_recording(write_recording(tmp_path / name, ev, CODE)))
    return out


def test_views_span_every_recording(recs):
    t = run_sql(recs, "select c.recording, count(*) as n from calls c join code k "
                      "on k.recording = c.recording and k.pid = c.pid and k.code_id = c.code_id "
                      "where k.function = 'work' "
                      "group by c.recording order by c.recording")
    assert [r["n"] for r in t.to_pylist()] == [3, 5]
    assert run_sql(recs, "select count(*) as n from sessions").to_pylist() == [{"n": 2}]
    assert run_sql(recs, "select count(*) as n from events").to_pylist() == [{"n": 2 * (1 + 3) + 2 * (1 + 5)}]


def test_bad_sql_is_one_clear_error(recs):
    with pytest.raises(UsageError, match="--sql: Parser Error"):
        run_sql(recs, "selec 1")


def test_sql_answers_of_every_type_print_as_json(recs, capsys):
    """DuckDB's sum of integers is a DECIMAL, times are timestamps: JSON and CSV
    print them (it was an internal error)."""
    import json

    from scope.cli import main
    q = ("select sum(duration_ns) total, avg(duration_ns) mean, timestamp '2026-01-02 03:04:05' stamp, "
         "'x'::blob b from calls")
    assert main(["query", "--parquet", str(recs[0].folder), "--sql", q, "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert isinstance(row["total"], int) and row["total"] > 0
    assert row["stamp"] == "2026-01-02T03:04:05" and row["b"] == "x"
    assert main(["query", "--parquet", str(recs[0].folder), "--sql", q, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "total,mean,stamp,b"


def test_a_table_nobody_wrote_is_an_empty_view(recs):
    """Recorded without --offcpu or --syscalls (or a program that made no calls):
    the views are there, empty, with their columns — a query runs and says 0."""
    assert run_sql(recs, "select count(*) as n from offcpu").to_pylist() == [{"n": 0}]
    cols = run_sql(recs, "select * from syscalls").column_names
    assert "syscall" in cols and "recording" in cols
