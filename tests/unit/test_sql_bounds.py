"""--sql's bounds (store/sql.py): a time limit, DuckDB's memory and threads, the
row limit inside the query, a private temporary folder — and, confined (`scope
mcp`), no file but the views' own. Each with its positive control: the same
query or read without the bound runs on or succeeds."""
import os
import subprocess
import sys
import threading

import duckdb
import pytest

from scope.errors import UsageError
from scope.store.reader import open_recording
from scope.store.sql import ENV, SqlBounds, run_sql

from .recording import START, write_recording
from .streams import tree_events

CODE = {1: ("main", "/app/main.py"), 2: ("work", "/app/work.py")}
BIG = "select length(string_agg(i::varchar, ',')) n from range(10000000) t(i)"     # a 79 MB string
FOR_EVER = "select count(*) n from range(1000000000000000)"     # 10^15 rows: hours


@pytest.fixture
def rec(tmp_path):
    _, _, ev = tree_events([(1, [(2, [])] * 3)], tid=1, t0=START + 100)
    return open_recording(write_recording(tmp_path / "rec", ev, CODE))


def test_a_query_past_its_time_limit_is_stopped_and_says_so(rec):
    with pytest.raises(UsageError, match=r"time limit of 0\.5 s") as err:
        run_sql([rec], FOR_EVER, bounds=SqlBounds(seconds=0.5))
    assert ENV["seconds"] in err.value.fix
    # the positive control: DuckDB on its own is still at it after 2 s
    con = duckdb.connect(":memory:")
    timer = threading.Timer(2, con.interrupt)
    timer.start()
    with pytest.raises(duckdb.InterruptException):
        con.sql(FOR_EVER).fetchall()
    timer.cancel()
    # a query within its limit answers (and the timer of the last one is gone)
    assert run_sql([rec], "select count(*) n from calls", bounds=SqlBounds(seconds=0.5)).to_pylist() == [{"n": 4}]


def test_the_row_limit_is_inside_the_query(rec):
    """400 million rows asked, 11 built: DuckDB stops at rows + 1."""
    t = run_sql([rec], "select * from range(400000000) order by 1", rows=10, confined=True)
    assert t.column("range").to_pylist() == list(range(11))


def test_scope_query_puts_its_limit_into_the_query(rec, capsys):
    from scope.cli import main
    assert main(["query", "--parquet", str(rec.folder), "--sql", "select * from range(400000000)",
                 "--limit", "3", "--format", "csv"]) == 0
    assert capsys.readouterr().out.split() == ["range", "0", "1", "2"]


def test_memory_and_threads_are_duckdbs_settings(rec):
    bounds = SqlBounds(memory="64MB", threads=1)
    got = run_sql([rec], "select current_setting('memory_limit') m, current_setting('threads') t",
                  bounds=bounds).to_pylist()[0]
    assert got["t"] == 1 and got["m"].replace(" ", "") in ("61.0MiB", "64.0MB", "61MiB", "64MB")
    with pytest.raises(UsageError, match="memory limit 64MB") as err:
        run_sql([rec], BIG, bounds=bounds)
    assert ENV["memory"] in err.value.fix
    # the positive control: with a larger limit the same query answers
    assert run_sql([rec], BIG, bounds=SqlBounds(memory="1GB", threads=1)).to_pylist() == [{"n": 78888889}]


def test_temporary_files_go_to_a_private_folder_removed_after(rec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    folder = run_sql([rec], "select current_setting('temp_directory') d").to_pylist()[0]["d"]
    assert "scope-sql-" in folder
    assert os.path.isabs(folder) and not folder.startswith(str(tmp_path))     # not <cwd>/.tmp
    assert not os.path.exists(folder)                                         # removed after the call
    # confined, DuckDB has none: it would let a query read what is in it
    assert run_sql([rec], "select current_setting('temp_directory') d", confined=True).to_pylist() == [{"d": ""}]


def test_confined_reads_nothing_but_the_views_files(rec, tmp_path, monkeypatch):
    """Not the recording's other files, not the folder's parent, not DuckDB's
    default temporary folder <cwd>/.tmp, not /proc; nothing loaded or set."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "planted.txt").write_text("planted")
    (rec.folder / "planted.txt").write_text("planted")
    (tmp_path / "beside.txt").write_text("a\nplanted\n")
    reads = [f"read_text('{tmp_path}/.tmp/planted.txt')", "read_text('.tmp/planted.txt')",
             f"read_text('{rec.folder}/planted.txt')", f"read_text('{rec.folder}/../beside.txt')",
             f"read_text('{tmp_path}/beside.txt')", "read_text('/proc/self/status')",
             f"read_csv('{tmp_path}/beside.txt')", f"glob('{rec.folder}/*')", f"glob('{tmp_path}/.tmp/*')"]
    for source in reads:
        with pytest.raises(UsageError, match="Permission Error"):
            run_sql([rec], f"select * from {source}", confined=True)
        # the positive control: the user's own --sql (unconfined) reads it
        assert run_sql([rec], f"select * from {source}").num_rows > 0, source
    for statement in ("copy (select 1) to 'x.csv'", "attach 'x.db'", "install httpfs", "load httpfs",
                      "pragma version", "set enable_external_access = true", "select 1; select 2"):
        with pytest.raises(UsageError, match="only one SELECT"):
            run_sql([rec], statement, confined=True)
    with pytest.raises(UsageError, match="SELECT"):
        run_sql([rec], "select * from query('set lock_configuration = false')", confined=True)
    readable = run_sql([rec], "select unnest(current_setting('allowed_paths')) p", confined=True).column("p")
    assert readable.to_pylist() and all(p.startswith(f"{rec.folder}/") and p.endswith(".parquet")
                                         for p in readable.to_pylist())
    assert run_sql([rec], "select count(*) n from events", confined=True).to_pylist() == [{"n": 2 * (1 + 3)}]


def test_bounds_from_the_environment():
    assert SqlBounds.from_env({}) == SqlBounds()
    assert SqlBounds.from_env({ENV["seconds"]: "60", ENV["memory"]: "2GB", ENV["threads"]: "1"}) == \
        SqlBounds(seconds=60.0, memory="2GB", threads=1)
    for var, bad in ((ENV["seconds"], "0"), (ENV["seconds"], "1e308"), (ENV["seconds"], "nan"),
                     (ENV["memory"], "lots"), (ENV["memory"], "1GB'; set x=1"), (ENV["threads"], "0"),
                     (ENV["threads"], "-1")):
        with pytest.raises(UsageError):
            SqlBounds.from_env({var: bad})


def test_scope_query_sql_is_bounded_too_and_prints_no_progress_bar(rec):
    """`scope query --sql` shares the bounds (raised by the environment); the
    answer on stdout is only the answer — DuckDB draws a progress bar there
    after 2 s unless told not to (the positive control)."""
    env = dict(os.environ, **{ENV["seconds"]: "3"})
    res = subprocess.run([sys.executable, "-m", "scope", "query", "--parquet", str(rec.folder), "--sql", FOR_EVER,
                          "--format", "csv"], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "time limit of 3 s" in res.stderr and "Traceback" not in res.stderr
    plain = ("import duckdb, threading\ncon = duckdb.connect(':memory:')\nthreading.Timer(3, con.interrupt).start()\n"
             f"try:\n    con.sql({FOR_EVER!r}).fetchall()\nexcept duckdb.InterruptException:\n    pass")
    res = subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "0%" in res.stdout       # the bar, where the answer goes
