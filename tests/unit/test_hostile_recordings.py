"""Crafted recordings (issue 16): a recording is untrusted input. Each crafted
one below is refused by every command that reads it with one line naming the
file and what is wrong, exit 1, no traceback; `scope store verify` calls it
damaged. The untouched recording (the control) passes every command."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scope.cli import main

from .recording import write_story


def _session(d: Path, **changes) -> None:
    meta = json.loads((d / "session.json").read_text())
    meta.update(changes)
    (d / "session.json").write_text(json.dumps(meta))


def _segment(d: Path, kind: str) -> Path:
    meta = json.loads((d / "session.json").read_text())
    return d / meta["segments" if kind == "events" else "calls_segments"][0]


def _column(path: Path, name: str, values) -> None:
    t = pq.read_table(path)
    pq.write_table(t.set_column(t.schema.get_field_index(name), name, values), path)


def _times(d: Path) -> None:
    path = _segment(d, "calls")
    start = pq.read_table(path)["start_ns"].to_pylist()
    start[0] = 2**63 - 1
    _column(path, "start_ns", pa.array(start, pa.int64()))


def _wrong_type(d: Path) -> None:
    path = d / "code.parquet"
    _column(path, "code_id", pa.array([str(x) for x in pq.read_table(path)["code_id"].to_pylist()]))


def _kind_as_int(d: Path) -> None:
    path = _segment(d, "events")
    _column(path, "kind", pa.array(range(pq.read_table(path).num_rows), pa.int64()))


def _unfinished_escaping(d: Path) -> None:
    (d / "session.json").unlink()
    cat = json.loads((d / "catalog.json").read_text())
    cat["events"][0]["file"] = "../../../../etc/passwd"
    (d / "catalog.json").write_text(json.dumps(cat))


CRAFTED = {
    "segment ../": (lambda d: _session(d, segments=["../elsewhere/events.parquet"]), "outside the recording"),
    "segment absolute": (lambda d: _session(d, segments=["/etc/passwd"]), "outside the recording"),
    "stopped 2^64": (lambda d: _session(d, stopped_ns=2**64), "stopped_ns is"),
    "started -2^70": (lambda d: _session(d, started_ns=-2**70), "started_ns is"),
    "clock not a number": (lambda d: _session(d, clock={"monotonic_ns": "x", "realtime_ns": 1}),
                           "clock.monotonic_ns is"),
    "wall clock 2^80": (lambda d: _session(d, clock={"monotonic_ns": 1, "realtime_ns": 2**80}),
                        "clock.realtime_ns is"),
    "call start 2^63-1": (_times, "column start_ns holds 9223372036854775807"),
    "code_id a string": (_wrong_type, "column code_id holds string"),
    "event kind an integer": (_kind_as_int, "column kind holds int64"),
    "unfinished, catalog ../": (_unfinished_escaping, "outside the recording"),
}
COMMANDS = [["query", "{d}", "--top"], ["query", "{d}", "--calls", "--format", "json"],
            ["query", "{d}", "--at", "0.01"], ["query", "{d}", "--kind", "gc_start"], ["stats", "{d}"],
            ["export", "{d}", "-o", "{tmp}/x.svg"], ["report", "{d}", "-o", "{tmp}/x.html"]]


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    return write_story(tmp_path_factory.mktemp("story") / "rec")


def _run(argv: list[str], d: Path, tmp: Path, capsys) -> tuple[int, list[str]]:
    code = main([a.format(d=d, tmp=tmp) for a in argv])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("name", list(CRAFTED))
def test_a_crafted_recording_is_refused_in_one_line(name, story, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    craft, says = CRAFTED[name]
    d = tmp_path / "rec"
    shutil.copytree(story, d)
    craft(d)
    refused = 0
    for argv in COMMANDS:
        code, err = _run(argv, d, tmp_path, capsys)
        assert not any("internal error" in line or "Traceback" in line for line in err), (argv, err)
        if code == 0:           # it needed only intact parts (a file it did not open)
            continue
        assert code == 1 and len(err) == 1 and err[0].startswith("scope: error:"), (argv, err)
        assert says in err[0], (argv, err)
        refused += 1
    assert refused >= 3
    code, err = _run(["store", "verify", "{d}"], d, tmp_path, capsys)
    assert code == 1, err


def test_the_untouched_recording_passes_every_command(story, tmp_path, capsys, monkeypatch):
    """The control: the same commands on the recording as written."""
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    for argv in COMMANDS + [["store", "verify", "{d}"]]:
        code, err = _run(argv, story, tmp_path, capsys)
        assert code == 0, (argv, err)


def test_parent_chains_that_loop_end_every_command(story, tmp_path, capsys, monkeypatch):
    """Every call's parent is the next call: the chains loop. Each command that
    walks them (stacks, flame graphs, folded, travel) ends — the loop is cut, its
    calls shown as roots (store/calltree.py) — where a walk by id never would."""
    import signal

    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    d = tmp_path / "rec"
    shutil.copytree(story, d)
    path = _segment(d, "calls")
    ids = pq.read_table(path)["call_id"].to_pylist()
    _column(path, "parent_id", pa.array(ids[1:] + ids[:1], pa.int64()))

    def stuck(*_):
        raise TimeoutError("a command kept walking a looping parent chain")
    old = signal.signal(signal.SIGALRM, stuck)
    try:
        for argv in COMMANDS + [["export", "{d}", "--format", "folded", "-o", "{tmp}/x.folded"],
                                ["query", "{d}", "--around", str(ids[0])], ["query", "{d}", "--tasks"]]:
            signal.alarm(60)
            code, err = _run(argv, d, tmp_path, capsys)
            assert code == 0, (argv, err)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert (tmp_path / "x.folded").read_text().count("\n") >= 1
