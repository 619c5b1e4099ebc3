"""Asking a target's interpreter its build settings (probes/shim.py): scope is
root and the interpreter may be anyone's, so it runs as whoever could change it
(its owner; nobody if anyone could), never in the target's environment, and
what it answers is checked before scope writes a file named after it."""
from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from scope.probes.shim import NOBODY, ShimBuildError, interpreter_info

GOOD = {"include": "/usr/include/python3.11", "suffix": ".cpython-311-x86_64-linux-gnu.so", "version": "3.11"}


def fake_python(folder, answer: dict | None = None, raw: str | None = None):
    """An executable that answers like `python -c _QUERY`, its hexversion the
    uid it ran as, and notes the arguments and environment it was given."""
    folder.chmod(0o755)
    script = folder / "python"
    body = raw if raw is not None else json.dumps(dict(answer or GOOD, hexversion=0)).replace(
        '"hexversion": 0', '"hexversion": $(id -u)')
    script.write_text(f"#!/bin/sh\necho \"$@\" > {folder}/args\nenv > {folder}/env\ncat <<EOF\n{body}\nEOF\n")
    script.chmod(0o755)
    return script


@pytest.fixture
def folder():
    """A folder its fake interpreter's user can enter (pytest's tmp_path is root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="scope-interp-"))
    yield path
    shutil.rmtree(path)


@pytest.fixture(autouse=True)
def _root():
    if os.geteuid() != 0:
        pytest.skip("needs root (scope's own condition)")


def test_a_users_interpreter_runs_as_that_user(folder):
    python = fake_python(folder)
    os.chown(python, 1234, 1234)
    os.chown(folder, 1234, 1234)
    info = interpreter_info(str(python))
    assert info["hexversion"] == 1234 and info["suffix"] == GOOD["suffix"]
    assert (folder / "args").read_text().split()[:2] == ["-I", "-S"]       # no site, no PYTHON* variables
    assert "SUDO_USER" not in (folder / "env").read_text() and "PYTHONPATH" not in (folder / "env").read_text()


def test_one_anybody_can_change_runs_as_nobody(folder):
    python = fake_python(folder)
    python.chmod(python.stat().st_mode | stat.S_IWOTH)
    os.chmod(folder, 0o777)
    assert interpreter_info(str(python))["hexversion"] == NOBODY


def test_roots_own_interpreter_runs_as_root(folder):
    """The control: a binary only root can change (a system interpreter)."""
    assert interpreter_info(str(fake_python(folder)))["hexversion"] == 0


@pytest.mark.parametrize("answer", [dict(GOOD, suffix="/../../../../etc/cron.d/x.so"), dict(GOOD, include="rel"),
                                    dict(GOOD, version="3.11; rm -rf /"), None])
def test_an_implausible_answer_is_refused(folder, answer):
    raw = "not json" if answer is None else None
    with pytest.raises(ShimBuildError):
        interpreter_info(str(fake_python(folder, answer, raw)))
