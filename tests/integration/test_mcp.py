"""`scope mcp` driven by the MCP SDK's own client over stdio: initialise, list
the tools, call each on a real recording (`scope run`) and check the answers
against `scope query` / `scope explain`; then what it refuses: a recording
outside its store, SQL that is not one SELECT or reads another file, a limit
past its bound; SQL's bounds (time, memory, files) and bad input answered as
errors, never tracebacks."""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from .conftest import PYTHON, TARGETS, query_json, run_scope

TOOLS = {"list_recordings", "top", "slowest", "calls", "stack_at", "around", "findings", "sql"}


def _session(root, calls: list[tuple[str, dict]]):
    """Each (tool, arguments)'s result, in one session; and the tools listed."""
    async def go():
        params = StdioServerParameters(command=sys.executable, args=["-m", "scope", "mcp", "--root", str(root)])
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            init = await session.initialize()
            listed = await session.list_tools()
            out = [await session.call_tool(name, arguments=args) for name, args in calls]
            return init, listed, out
    return asyncio.run(go())


def _text(result) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def test_every_tool_answers_as_the_command_does(tmp_path):
    root = tmp_path / "store"
    out = root / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "explain.py"), "repeated", "planted")
    assert res.returncode == 0, res.stderr
    slow = query_json(out, "--slowest", "5")
    call_id, mid = slow[0]["call_id"], round(slow[0]["start_s"] + 0.001, 6)
    sql = "select count(*) n from calls k join code c using (pid, code_id) where c.function = 'fetch_one'"
    calls = [("list_recordings", {}),
             ("top", {"recording": "rec", "limit": 20}),
             ("slowest", {"recording": "rec", "limit": 5}),
             ("calls", {"recording": "rec", "since": "0.1", "until": "0.3", "limit": 50}),
             ("stack_at", {"recording": "rec", "time": str(mid)}),
             ("around", {"recording": "rec", "call_id": call_id}),
             ("findings", {"recording": "rec"}),
             ("sql", {"recording": "rec", "query": sql})]
    init, listed, results = _session(root, calls)
    assert init.server_info.name == "scope"
    assert {t.name for t in listed.tools} == TOOLS
    assert all(t.annotations.read_only_hint for t in listed.tools)
    got = {name: r for (name, _), r in zip(calls, results)}
    assert not any(r.is_error for r in results), [_text(r) for r in results if r.is_error]
    answers = {name: json.loads(_text(r)) for name, r in got.items()}
    assert [r["recording"] for r in answers["list_recordings"]] == ["rec"]
    assert answers["list_recordings"][0]["calls"] > 6000
    assert answers["top"] == query_json(out, "--top", "--limit", "20")
    assert answers["slowest"] == slow
    assert answers["calls"] == query_json(out, "--calls", "--since", "0.1", "--until", "0.3", "--limit", "50")
    assert answers["stack_at"] == query_json(out, "--at", str(mid)) and answers["stack_at"]
    assert answers["around"] == query_json(out, "--around", str(call_id)) and answers["around"]
    explained = json.loads(run_scope("explain", str(out), "--format", "json").stdout)
    assert answers["findings"] == explained and explained["findings"][0]["evidence"]["callee"]["function"] == \
        "fetch_one"
    assert answers["sql"] == [{"n": 6000}] == query_json(out, "--sql", sql)


def test_what_it_refuses(tmp_path):
    root = tmp_path / "store"
    out = root / "rec"
    assert run_scope("run", "-o", str(out), "--", PYTHON, "-c", "pass").returncode == 0
    (tmp_path / "secret.csv").write_text("a\n1\n")
    bad = [("top", {"recording": "../store/rec"}),
           ("top", {"recording": "nope"}),
           ("top", {"recording": "rec", "limit": 100_000}),
           ("sql", {"recording": "rec", "query": f"copy (select 1) to '{tmp_path}/x.csv'"}),
           ("sql", {"recording": "rec", "query": f"select * from read_csv('{tmp_path}/secret.csv')"}),
           ("sql", {"recording": "rec", "query": "select 1; select 2"})]
    _, _, results = _session(root, bad + [("sql", {"recording": "rec", "query": "select count(*) n from code"})])
    for (name, args), r in zip(bad, results):
        assert r.is_error, (name, args, _text(r))
        assert "Traceback" not in _text(r)
    said = [_text(r) for r in results]
    assert "no recording '../store/rec'" in said[0] and "list_recordings" in said[0]
    assert "not between 1 and 500" in said[2]
    assert "only one SELECT" in said[3] and "Permission" in said[4] and "only one SELECT" in said[5]
    assert not (tmp_path / "x.csv").exists()
    assert not results[-1].is_error and json.loads(said[-1])[0]["n"] > 0      # the positive control


def _serve(root, calls: list[tuple[str, dict]], tmp_path, *args: str, cwd=None):
    """Each (tool, arguments)'s result in one session of `scope mcp --root ROOT
    ARGS`; the server's stderr; its peak RSS (VmHWM, kB) after the calls."""
    pidfile, errfile = tmp_path / "server.pid", tmp_path / "server.err"

    async def go():
        params = StdioServerParameters(
            command="/bin/sh", args=["-c", 'echo $$ > "$1"; shift 1; exec "$@"', "sh", str(pidfile),
                                     sys.executable, "-m", "scope", "mcp", "--root", str(root), *args],
            cwd=str(cwd or tmp_path))
        with open(errfile, "w") as err:
            async with stdio_client(params, errlog=err) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                out = [await session.call_tool(name, arguments=args) for name, args in calls]
                status = Path(f"/proc/{pidfile.read_text().strip()}/status").read_text()
        return out, errfile.read_text(), int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
    return asyncio.run(go())


def _duckdb(script: str, cwd) -> str:
    """A few lines of plain DuckDB (con: a connection) in a process of their own
    (the positive controls: what DuckDB does without scope's bounds)."""
    code = "import duckdb, resource\ncon = duckdb.connect(':memory:')\ncon.execute('SET enable_progress_bar = false')\n" + script
    res = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


FOR_EVER = "select count(*) n from range(1000000000000000)"      # 10^15 rows: hours
HUGE = "select * from range(400000000)"                           # 3.2 GB as one table
RSS_BOUND_KB = 768 << 10


def test_sql_is_bounded_in_time_memory_and_files(tmp_path):
    """The time limit stops a query that runs for ever, the row limit inside the
    query keeps a 400-million-row answer's memory flat, and a query reads only
    the recording's tables: not DuckDB's default temporary folder <cwd>/.tmp,
    not the recording's other files, its folder's parent, or /proc."""
    root = tmp_path / "store"
    rec = root / "rec"
    assert run_scope("run", "-o", str(rec), "--", PYTHON, "-c", "pass").returncode == 0
    work = tmp_path / "work"
    (work / ".tmp").mkdir(parents=True)
    (work / ".tmp" / "planted.txt").write_text("planted\n")
    (root / "beside.txt").write_text("a\nplanted\n")
    files = [".tmp/planted.txt", f"{work}/.tmp/planted.txt", f"{rec}/session.json", f"{rec}/../beside.txt",
             "/proc/self/environ"]
    refused = [f"select * from read_text('{f}')" for f in files] + [
        f"select * from read_csv('{root}/beside.txt')", f"select * from glob('{rec}/*')",
        f"select * from read_parquet('{rec}/*/*.parquet')"]
    statements = [f"attach '{work}/x.db'", "install httpfs", "load httpfs", "pragma version",
                  "set enable_external_access = true", f"copy (select 1) to '{work}/x.csv'",
                  "select 1; select * from read_text('/etc/hostname')"]
    calls = ([("sql", {"recording": "rec", "query": FOR_EVER}),
              ("sql", {"recording": "rec", "query": HUGE, "limit": 100})]
             + [("sql", {"recording": "rec", "query": q}) for q in refused + statements]
             + [("sql", {"recording": "rec", "query": "select current_setting('temp_directory') t"}),
                ("sql", {"recording": "rec", "query": "select count(*) n from code"})])
    results, stderr, peak_kb = _serve(root, calls, tmp_path, "--sql-seconds", "2", cwd=work)
    said = [_text(r) for r in results]
    assert results[0].is_error and "time limit of 2 s" in said[0] and "--sql-seconds" in said[0]
    huge = json.loads(said[1])
    assert not results[1].is_error and [r["range"] for r in huge["rows"]] == list(range(100))
    assert huge["note"].startswith("100 of more than 100 rows")
    assert peak_kb < RSS_BOUND_KB, peak_kb
    for query, r, text in zip(refused, results[2:], said[2:]):
        assert r.is_error and "Permission Error" in text, (query, text)
    for query, r, text in zip(statements, results[2 + len(refused):], said[2 + len(refused):]):
        assert r.is_error and "only one SELECT" in text, (query, text)
    assert json.loads(said[-2]) == [{"t": ""}]                  # no temporary folder a query could read
    assert not results[-1].is_error and json.loads(said[-1])[0]["n"] > 0      # the recording's own: read
    assert not (work / "x.csv").exists() and not (work / "x.db").exists()
    assert "Traceback" not in stderr
    errors = 1 + len(refused) + len(statements)
    assert stderr.count("scope mcp: sql: ") == errors == len(stderr.splitlines()), stderr

    # the positive controls, plain DuckDB without the bounds: the query is still running after 4 s ...
    assert _duckdb(f"import threading\nthreading.Timer(4, con.interrupt).start()\n"
                   f"try:\n    con.sql({FOR_EVER!r}).fetchall()\nexcept duckdb.InterruptException:\n"
                   "    print('still running')", work) == "still running"
    # ... the answer built before the slice takes more than the bound, with the same memory_limit ...
    peak = _duckdb("con.execute(\"SET memory_limit='512MB'\"); con.execute('SET threads=2')\n"
                   f"print(len(con.sql({HUGE!r}).to_arrow_table().slice(0, 100)), "
                   "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)", work).split()
    assert peak[0] == "100" and int(peak[1]) > RSS_BOUND_KB, peak
    # ... and each file refused is readable; <cwd>/.tmp even confined as scope mcp was (DuckDB's
    # temporary folder is allowed to every query)
    for query in refused[:-1]:
        assert _duckdb(f"print(len(con.sql({query!r}).fetchall()))", work) != "0", query
    old = (f"con.execute(\"SET allowed_directories = ['{rec}/']\"); "
           "con.execute('SET enable_external_access = false')\n"
           "print(con.sql(\"select content from read_text('.tmp/planted.txt')\").fetchall()[0][0])")
    assert _duckdb(old, work) == "planted"


def test_bad_input_is_an_error_the_client_sees_never_a_traceback(tmp_path):
    """Times out of range or beginning with "-", a NUL in a recording's name,
    ids past any integer: each an error answer of one line, and one line on
    the server's stderr."""
    root = tmp_path / "store"
    out = root / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "explain.py"), "repeated", "planted")
    assert res.returncode == 0, res.stderr
    mid = round(query_json(out, "--slowest", "1")[0]["start_s"] + 0.001, 6)
    bad = [("stack_at", {"recording": "rec", "time": t}) for t in ("1e308", "9e18", "-5", "nan", "-inf")]
    bad += [("top", {"recording": "rec", "since": "1e400"}),
            ("calls", {"recording": "rec", "since": "9e18", "until": "1e400"}),
            ("top", {"recording": "rec", "since": "--help"}),
            ("top", {"recording": "rec\x00x"}),
            ("findings", {"recording": "\x00"}),
            ("sql", {"recording": "rec\x00", "query": "select 1"}),
            ("stack_at", {"recording": "rec", "time": str(mid), "tid": 2**80}),
            ("around", {"recording": "rec", "call_id": 2**80})]
    good = [("stack_at", {"recording": "rec", "time": str(mid)}),
            ("top", {"recording": "rec", "since": "0", "limit": 5})]
    results, stderr, _ = _serve(root, bad + good, tmp_path)
    for (name, args), r in zip(bad, results):
        text = _text(r)
        assert r.is_error and "\n" not in text and "Traceback" not in text, (name, args, text)
    said = [_text(r) for r in results]
    assert "out of range" in said[0] and "no recording 'rec\\x00x'" in said[8]
    assert not any(r.is_error for r in results[len(bad):])            # the positive control: they answer
    assert json.loads(said[len(bad)]) and json.loads(said[len(bad) + 1])
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == len(bad) and all(line.startswith("scope mcp: ") for line in lines), stderr
