"""The target behaves exactly the same under scope; other profilers keep working."""
from __future__ import annotations

import json
import subprocess

from .conftest import PYTHON, TARGETS, run_scope


def test_output_and_exit_code_are_unchanged(tmp_path):
    script = str(TARGETS / "behaviour.py")
    plain = subprocess.run([PYTHON, script], capture_output=True)
    for extra in ([], ["--no-shim"]):
        traced = run_scope("run", *extra, "-o", str(tmp_path / f"rec{len(extra)}"), "--", PYTHON, script)
        assert traced.returncode == plain.returncode == 7
        out = traced.stdout
        assert out.startswith(plain.stdout.decode()), (extra, out)   # scope's summary follows
        assert traced.stderr.count("Traceback") == plain.stderr.count(b"Traceback") == 0


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
