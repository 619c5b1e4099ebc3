"""`scope mcp` driven by the MCP SDK's own client over stdio: initialise, list
the tools, call each on a real recording (`scope run`) and check the answers
against `scope query` / `scope explain`; then what it refuses: a recording
outside its store, SQL that is not one SELECT or reads another file, a limit
past its bound."""
from __future__ import annotations

import asyncio
import json
import sys

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
