"""A target that names its code to attack the terminal (tests/targets/hostile_names.py):
recorded exactly, and shown by every command with its control characters
escaped — the names intact in JSON, never raw on the screen."""
from __future__ import annotations

import json

from .conftest import PYTHON, TARGETS, run_scope

NAMES = ["title\x1b]0;PWNED\x07", "clip\x1b]52;c;ZXZpbA==\x07", "clear\x1b[2J\nforged row",
         "c1\x9b31m\u202eevil"]
RAW = set("\x1b\x07\x9b\u202e")


def test_hostile_names_are_recorded_exactly_and_shown_escaped(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "hostile_names.py"))
    assert res.returncode == 0, res.stderr
    as_json = run_scope("query", "--parquet", str(out), "--top", "--file", "*file.py", "--format", "json")
    assert as_json.returncode == 0 and not RAW & set(as_json.stdout)
    rows = json.loads(as_json.stdout)
    # exact, intact (the exec'd source's own <module> too)
    assert {r["function"]: r["calls"] for r in rows} == {"<module>": 1, **{name: 3 for name in NAMES}}
    assert {r["file"] for r in rows} == {"/tmp/\x1b[2Jfile.py"}
    for args in (["query", "--parquet", str(out), "--top"], ["query", "--parquet", str(out), "--calls"],
                 ["query", "--parquet", str(out), "--top", "--format", "csv"], ["stats", "--parquet", str(out)],
                 ["query", "--parquet", str(out), "--sql", "select function, file from code"]):
        shown = run_scope(*args)
        assert shown.returncode == 0, (args, shown.stderr)
        assert not RAW & set(shown.stdout + shown.stderr), args
        assert "title\\x1b]0;PWNED\\x07" in shown.stdout or "stats" in args, args
    table = run_scope("query", "--parquet", str(out), "--top", "--file", "*file.py").stdout
    assert "clear\\x1b[2J\\nforged row" in table and "forged row" not in table.replace("\\nforged row", "")
    assert len(table.splitlines()) == 2 + len(NAMES)          # header, <module>, the four: no forged row
