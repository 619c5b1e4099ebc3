"""The target behaves exactly the same under scope; other profilers keep working."""
from __future__ import annotations

import json
import subprocess

from .conftest import PYTHON, TARGETS, run_scope, scope_cmd


def test_output_and_exit_code_are_unchanged(tmp_path):
    script = str(TARGETS / "behaviour.py")
    plain = subprocess.run([PYTHON, script], capture_output=True)
    for extra in ([], ["--no-shim"]):
        traced = subprocess.run(scope_cmd("run", *extra, "-o", str(tmp_path / f"rec{len(extra)}"), "--",
                                          PYTHON, script), capture_output=True, timeout=120)
        assert traced.returncode == plain.returncode == 7
        # byte for byte: the program's stdout, then scope's summary after it exited
        program, summary = traced.stdout[:len(plain.stdout)], traced.stdout[len(plain.stdout):]
        assert program == plain.stdout, (extra, traced.stdout)
        assert summary.startswith(b"recorded pid "), (extra, summary)
        # and its stderr, byte for byte, once scope's own lines ("scope: ...") are set aside
        theirs = b"".join(line for line in traced.stderr.splitlines(keepends=True)
                          if not line.startswith(b"scope: "))
        assert theirs == plain.stderr and b"to stderr 55" in plain.stderr and b"UserWarning" in theirs


def test_cprofile_keeps_working_and_scope_says_it_yielded(tmp_path):
    out = tmp_path / "rec"
    cmd = [PYTHON, "-m", "cProfile", "-s", "ncalls", str(TARGETS / "behaviour.py")]
    plain = subprocess.run(cmd, capture_output=True, text=True)
    res = run_scope("run", "-o", str(out), "--", *cmd)
    assert res.returncode == plain.returncode, res.stderr   # cProfile swallows SystemExit itself
    assert "function calls" in res.stdout            # cProfile's report is intact
    assert "fib" in res.stdout
    meta = json.loads((out / "session.json").read_text())
    assert "refused" in [t["state"] for t in meta["shim"]["tracing"]]
    assert "call capture refused" in res.stdout


def test_the_deny_list_holds_unless_overridden_with_a_warning(tmp_path):
    """python:line is denied on 3.11: asked for alone it is refused before the
    program starts; with --unsafe-probe it is attached, with one warning line,
    and every executed line is recorded."""
    script = str(TARGETS / "lines.py")
    refused = run_scope("run", "--lines", "-o", str(tmp_path / "no"), "--", PYTHON, script)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "deny list for CPython 3.11" in refused.stderr
    assert "--unsafe-probe python:line" in refused.stderr
    assert refused.stdout == "" and not (tmp_path / "no").exists()     # the program never ran

    out = tmp_path / "rec"
    forced = run_scope("run", "--lines", "--unsafe-probe", "python:line", "-o", str(out), "--", PYTHON, script)
    assert forced.returncode == 0, forced.stderr
    warnings = [line for line in forced.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith("scope: warning: attaching python:line")
    assert forced.stdout.startswith("500500\n")
    meta = json.loads((out / "session.json").read_text())
    line_probe = next(p for p in meta["probes"] if p["marker"] == "python:line")
    assert line_probe["used"] and "UNSAFE" in line_probe["reason"]
    rows = run_scope("query", "--parquet", str(out), "--sql",
                     "select e.line, count(*) n from events e join code c using (code_id) "
                     "where e.kind = 'line' and c.function = 'f' and c.file like '%/lines.py' "
                     "group by 1 order by 1", "--format", "json")
    assert json.loads(rows.stdout) == [{"line": 5, "n": 1000}, {"line": 6, "n": 1000}]
