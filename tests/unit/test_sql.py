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
