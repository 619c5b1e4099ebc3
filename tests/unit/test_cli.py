"""Bad input: one clear line on stderr, the right exit code, never a traceback."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ..interpreters import pyenv_python, pyenv_versions

PYENV_PYTHON = str(pyenv_python(pyenv_versions()[-1]))     # no USDT markers


def scope(*args, **kw):
    return subprocess.run([sys.executable, "-m", "scope", *args], capture_output=True,
                          text=True, timeout=60, **kw)


def assert_one_line_error(res, code, *needles):
    assert res.returncode == code, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("scope: error: ")
    assert "Traceback" not in res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def pyenv_process():
    """A running pyenv python3 (no USDT markers), ready."""
    if not os.path.exists(PYENV_PYTHON):
        pytest.skip(f"no {PYENV_PYTHON} (./setup.sh installs it with pyenv)")
    proc = subprocess.Popen([PYENV_PYTHON, "-c", "import time; print('ready', flush=True); time.sleep(60)"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


USAGE = [
    (["attach"], "the following arguments are required: pid"),
    (["attach", "abc"], "invalid int value"),
    (["attach", "-5"], ""),
    (["attach", "1", "--duration", "-1"], "--duration"),
    (["attach", "1", "--buffer-mb", "3"], "power of two"),
    (["run"], "no command to run"),
    (["query"], "needs a recording folder"),
    (["stats", "a", "b"], "takes one recording folder"),
    (["query", "--parquet", "x", "--sort", "self"], "--sort orders --top"),
    (["query", "--parquet", "x", "--kind", "bogus"], "unknown --kind"),
    (["query", "--parquet", "x", "--top", "--slowest", "3"], "not allowed with"),
    (["query", "--parquet", "x", "--slowest", "-1"], "must not be negative"),
    (["frobnicate"], "invalid choice"),
    ([], "no command given"),
]


@pytest.mark.parametrize("args,needle", USAGE, ids=[" ".join(a) or "(none)" for a, _ in USAGE])
def test_usage_errors(args, needle):
    assert_one_line_error(scope(*args), 2, needle)


def test_attach_missing_pid():
    pid = 4_000_000   # above the default pid_max
    assert_one_line_error(scope("attach", str(pid)), 1, f"no process with pid {pid}", "ps")


def test_attach_non_python(sleeper):
    assert_one_line_error(scope("attach", str(sleeper.pid)), 1, "is not a CPython process", "pgrep")


def test_attach_python_without_markers(pyenv_process):
    """Without the shim (by default scope would load it: tests/integration/test_attach.py)."""
    assert_one_line_error(scope("attach", "--no-inject", str(pyenv_process.pid)), 1, "no USDT markers",
                          "drop --no-inject")


def test_run_python_without_markers_and_no_shim(tmp_path):
    if not os.path.exists(PYENV_PYTHON):
        pytest.skip(f"no {PYENV_PYTHON} (./setup.sh installs it with pyenv)")
    res = scope("run", "--no-shim", "-o", str(tmp_path / "r"), "--", PYENV_PYTHON, "-c", "pass")
    assert_one_line_error(res, 1, "no USDT markers", "drop --no-shim")
    assert not (tmp_path / "r").exists()


def test_run_missing_command(tmp_path):
    assert_one_line_error(scope("run", "--", "no-such-program-xyz"), 1, "command not found")


def test_run_non_python(tmp_path):
    assert_one_line_error(scope("run", "--", "/bin/true"), 1, "not a CPython interpreter")


def test_query_missing_folder(tmp_path):
    assert_one_line_error(scope("query", "--parquet", str(tmp_path / "nope")), 1, "does not exist")


def test_query_file_not_folder(tmp_path):
    f = tmp_path / "file.parquet"
    f.write_text("x")
    assert_one_line_error(scope("query", "--parquet", str(f)), 1, "is a file", "scope-recordings")


def test_query_folder_not_recording(tmp_path):
    assert_one_line_error(scope("query", "--parquet", str(tmp_path)), 1, "not a scope recording")


def test_doctor_reports_missing_markers():
    res = scope("doctor", "--binary", PYENV_PYTHON or "/bin/true")
    assert res.returncode == 1
    assert "Traceback" not in res.stderr + res.stdout


def test_output_folder_not_empty(tmp_path, sleeper):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert_one_line_error(scope("run", "-o", str(tmp_path / "full"), "--", "/usr/bin/python3.11", "-c", "1"),
                          2, "not empty")


def test_doctor_on_a_python_without_markers_points_at_the_shim(pyenv_process):
    res = scope("doctor", "--pid", str(pyenv_process.pid))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "shim            not loaded" in res.stdout and "--inject" in res.stdout
    assert "NO  markers" in res.stdout


def test_export_bad_input_is_one_line(tmp_path):
    import subprocess
    import sys
    cases = [
        (["export", "--parquet", str(tmp_path), "--format", "chrome", "-o", str(tmp_path / "x.json")], 1),
        (["export", "--parquet", str(tmp_path), "--format", "png", "-o", "x"], 2),
        (["export", str(tmp_path), str(tmp_path), "--format", "chrome"], 2),
    ]
    for args, code in cases:
        res = subprocess.run([sys.executable, "-m", "scope", *args], capture_output=True, text=True)
        assert res.returncode == code, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_stats_bad_input_is_one_line(tmp_path):
    import subprocess
    import sys
    for args, code in ((["stats", "--parquet", str(tmp_path / "none")], 1),
                       (["stats", "--parquet", str(tmp_path), "--limit", "0"], 2)):
        res = subprocess.run([sys.executable, "-m", "scope", *args], capture_output=True, text=True)
        assert res.returncode == code, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_diff_bad_input_is_one_line(tmp_path):
    import subprocess
    import sys
    res = subprocess.run([sys.executable, "-m", "scope", "diff", str(tmp_path / "a"), str(tmp_path / "b")],
                         capture_output=True, text=True)
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1
    assert "does not exist" in res.stderr and "Traceback" not in res.stderr
