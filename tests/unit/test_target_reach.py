"""How scope reaches a target's files: by the identity of what it maps, never by
a name alone (a container's /usr/bin/python3.11 is not the host's)."""
from __future__ import annotations

import os
import sys

import pytest

from scope.errors import TargetError
from scope.probes import target as tg

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="/proc/PID/map_files needs CAP_SYS_ADMIN")


def python_mapping() -> tuple[str, int, int]:
    """This process's first mapping of its own interpreter binary."""
    exe = os.path.realpath(sys.executable)
    for start, end, _, path in tg._regions(os.getpid()):
        if os.path.realpath(path) == exe:
            return path, start, end
    raise AssertionError("the interpreter is not mapped")


@needs_root
def test_a_file_reachable_by_its_name_is_used_by_its_name():
    path, start, end = python_mapping()
    assert tg.reach(os.getpid(), path, start, end) == path


@needs_root
def test_a_name_that_is_another_file_here_is_not_used():
    # as a container's /usr/bin/python3.11 beside the host's: same name, another file
    _, start, end = python_mapping()
    other = "/bin/sh"
    got = tg.reach(os.getpid(), other, start, end)
    assert got not in (other, f"/proc/{os.getpid()}/root{other}")
    assert got.startswith("/proc/self/fd/")
    assert os.stat(got).st_ino == os.stat(sys.executable).st_ino     # the mapped file itself


def test_own_name_strips_nothing_for_a_process_in_scopes_root():
    assert tg.own_name(os.getpid(), "/usr/bin/python3.11") == "/usr/bin/python3.11"


@needs_root
def test_unreachable_files_are_said_to_be_unreachable(monkeypatch):
    monkeypatch.setattr(tg, "reach", lambda *a: None)
    with pytest.raises(TargetError) as err:
        tg.inspect_process(os.getpid(), require_markers=False)
    assert err.value.args[0].startswith(f"cannot see the target's files from here: process {os.getpid()} maps ")
    assert "no USDT markers" not in str(err.value)


@needs_root
def test_a_process_in_scopes_namespaces_is_not_a_container():
    t = tg.inspect_process(os.getpid(), require_markers=False)
    assert not t.in_container and t.nspid == [os.getpid()]
    assert t.describe()["nspid"] == [os.getpid()] and t.describe()["own_mounts"] is False
