"""The cold tier: compaction keeps every event and call exactly once (counts and
checksums), survives being interrupted at each step, never touches a recording
being written; retention removes the oldest first and never a live one."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from scope import kinds
from scope.cli import main
from scope.collector.correlate import Correlator
from scope.store import catalog, schema
from scope.store import compact as compact_mod
from scope.store.build import calls_table
from scope.store.compact import checksum, compact
from scope.store.fsutil import is_locked
from scope.store.query import Filters, events, top
from scope.store.reader import open_recording
from scope.store.retention import plan, prune
from scope.store.safeopen import Folder
from scope.store.travel import at
from scope.store.verify import verify
from scope.store.writer import RecordingWriter
from scope.units import parse_age, parse_size

from .recording import START
from .streams import feed, to_records

HOUR = 3600 * 10**9
# wall time of START: 20 minutes before an hour boundary, so the recording spans two hours
REAL = (1_700_000_000 // 3600 + 1) * HOUR - 20 * 60 * 10**9


def build(folder, *, segments=6, per=400, gap=8 * 60 * 10**9):
    """A recording of `segments` warm event segments and as many call segments, `gap` apart."""
    w = RecordingWriter(folder, segment_rows=per)
    c = Correlator()
    for k in range(segments):
        t0 = START + k * gap
        evs = []
        for i in range(per // 4):       # f(g()) pairs: call f, call g, ret g, ret f
            t = t0 + i * 1000
            evs += [(t, 1, kinds.CALL, 1), (t + 100, 1, kinds.CALL, 2),
                    (t + 300, 1, kinds.RETURN, 2), (t + 600, 1, kinds.RETURN, 1)]
        rec = to_records(evs)
        w.add_events(rec)
        feed(c, rec)
        w.add_calls(calls_table(c.drain()))
        w.flush()
    c.finish()
    w.add_calls(calls_table(c.drain(everything=True)))
    w.flush_events()
    w.write_table("code.parquet", pa.table({
        "code_id": [1, 2], "pid": [1, 1], "kind": ["code"] * 2, "file": ["/a.py"] * 2,
        "function": ["f", "g"], "first_line": [1, 5], "truncated": [False] * 2, "qualname": ["f", "g"]},
        schema=schema.CODE))
    w.write_table("threads.parquet", schema.THREADS.empty_table())
    w.write_table("processes.parquet", schema.PROCESSES.empty_table())
    w.write_session({"started_ns": START, "stopped_ns": START + segments * gap, "host": "web-1",
                     "clock": {"monotonic_ns": START, "realtime_ns": REAL},
                     "target": {"pid": 1}, "drops": {}, "counts": {"events": {"call": 1}}})
    return folder


def answers(folder):
    rec = open_recording(folder)
    return (checksum(rec.events()), checksum(rec.calls()), top(rec, Filters()).to_pylist(),
            events(rec, Filters(since="480", until="480.05")).to_pylist(),
            at(rec, START + 16 * 60 * 10**9 + 150).to_pylist())


def test_compaction_keeps_every_row_once_and_partitions_by_hour(tmp_path):
    folder = build(tmp_path / "rec")
    before = answers(folder)
    assert before[0][0] == 2400 and len(before[3]) > 0 and len(before[4]) == 2   # f > g at T
    res = compact(folder)
    assert res.done and res.files == {"events": (6, 2), "calls": (6, 2)}
    assert answers(folder) == before
    meta = json.loads((folder / "session.json").read_text())
    assert all(s.startswith("cold/events/host=web-1/date=") for s in meta["segments"])
    hours = sorted({s.split("/hour=")[1][:2] for s in meta["segments"]})
    assert len(hours) == 2
    assert not (folder / "events").exists() and not (folder / "calls").exists()
    cat = catalog.load(folder)
    assert [e["file"] for e in cat["events"]] == meta["segments"]
    assert sum(e["rows"] for e in cat["events"]) == 2400
    for entry in cat["events"]:          # sorted within a file, its range in the catalog
        ts = open_recording(folder)._read(entry["file"], schema.EVENTS)["ts"].to_numpy()
        assert (np.diff(ts) >= 0).all() and (entry["min_ns"], entry["max_ns"]) == (ts[0], ts[-1])
    assert verify(folder).healthy
    again = compact(folder)
    assert not again.done and "nothing" in again.skipped


@pytest.mark.parametrize("step", ["after cold files", "after session.json"])
def test_an_interrupted_compaction_leaves_a_readable_recording(tmp_path, monkeypatch, step):
    folder = build(tmp_path / "rec")
    before = answers(folder)
    real_write = compact_mod._write_session
    real_unlink = Folder.unlink

    class Killed(Exception):
        pass

    def dying_write(d, meta):
        if step == "after cold files":
            raise Killed
        real_write(d, meta)

    def dying_unlink(self, rel, missing_ok=True):
        if step == "after session.json" and str(rel).startswith("events/part-"):
            raise Killed
        return real_unlink(self, rel, missing_ok=missing_ok)
    monkeypatch.setattr(compact_mod, "_write_session", dying_write)
    monkeypatch.setattr(Folder, "unlink", dying_unlink)
    with pytest.raises(Killed):
        compact(folder)
    monkeypatch.undo()
    assert answers(folder) == before          # readable, every row once, mid-way
    assert compact(folder).done or step == "after session.json"
    compact(folder)
    assert answers(folder) == before
    assert verify(folder).healthy and not (folder / "events").exists()


def test_a_recording_being_written_is_never_compacted_or_pruned(tmp_path):
    root = tmp_path / "store"
    w = RecordingWriter(root / "live", segment_rows=10)
    w.add_events(to_records([(START + i, 1, kinds.CALL, 1) for i in range(30)]))
    w.catalog.set_header({"started_ns": START, "clock": {"monotonic_ns": START, "realtime_ns": 1}})
    assert is_locked(root / "live")
    assert compact(root / "live").skipped == "being recorded"
    assert prune(root, max_bytes=0, max_age_s=0, now_ns=10**19) == []
    assert (root / "live" / "events" / "part-000000.parquet").exists()
    w.close()
    assert not is_locked(root / "live")


def test_prune_removes_oldest_first_by_bytes_and_by_age(tmp_path):
    root = tmp_path / "store"
    sizes = {}
    for i, name in enumerate(["b", "a", "c"]):      # started in the order b, a, c
        folder = build(root / name, segments=1)
        meta = json.loads((folder / "session.json").read_text())
        meta["clock"]["realtime_ns"] = (i + 1) * 86400 * 10**9
        (folder / "session.json").write_text(json.dumps(meta))
        sizes[name] = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    total = sum(sizes.values())
    got = plan(root, max_bytes=total - 1, max_age_s=None, now_ns=4 * 86400 * 10**9)
    assert [r.folder.name for r in got] == ["b"]
    got = plan(root, max_bytes=sizes["c"], max_age_s=None, now_ns=0)
    assert [r.folder.name for r in got] == ["b", "a"]
    got = plan(root, max_bytes=None, max_age_s=1.5 * 86400, now_ns=4 * 86400 * 10**9)
    assert [r.folder.name for r in got] == ["b", "a"]
    assert main(["store", "prune", str(root), "--max-age", "1.5d", "--dry-run"]) == 0
    assert sorted(p.name for p in root.iterdir()) == ["a", "b", "c"]
    prune(root, max_bytes=sizes["c"], max_age_s=None, now_ns=0)
    assert [p.name for p in root.iterdir()] == ["c"]


def test_sizes_and_ages():
    assert parse_size("10G") == 10 << 30 and parse_size("500m") == 500 << 20 and parse_size("1024") == 1024
    assert parse_age("7d") == 7 * 86400 and parse_age("30m") == 1800


def test_store_ls_compact_and_bad_input(tmp_path, capsys):
    root = tmp_path / "store"
    build(root / "one")
    assert main(["store", "ls", str(root), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["state"], r["host"], r["calls"] is not None) for r in rows] == [("finished", "web-1", True)]
    assert main(["store", "compact", str(root)]) == 0
    assert "events 6 -> 2 files (2,400 rows)" in capsys.readouterr().out
    main(["store", "ls", str(root), "--format", "json"])
    assert json.loads(capsys.readouterr().out)[0]["state"] == "compacted"
    for argv, code in [(["store", "prune", str(root)], 2),
                       (["store", "prune", str(root), "--max-bytes", "lots"], 2),
                       (["store", "prune", str(root / "one"), "--max-age", "1d"], 2),
                       (["store", "ls", str(tmp_path / "nowhere")], 1),
                       (["store", "compact", str(tmp_path / "nowhere")], 1)]:
        assert main(argv) == code, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("scope: error:"), (argv, err)
    assert os.stat(root / "one" / "cold").st_mode & 0o777 == 0o700


def test_sql_reads_the_cold_files(tmp_path):
    from scope.store.sql import run_sql
    folder = build(tmp_path / "rec")
    compact(folder)
    got = run_sql([open_recording(folder)], "select count(*) n, count(distinct call_id) c from calls")
    assert got.to_pylist() == [{"n": 1200, "c": 1200}]
    import duckdb  # the cold files on their own, as a fleet reader sees them: hive keys from the path
    rows = duckdb.sql(f"select host, count(*) n from read_parquet('{folder}/cold/events/**/*.parquet', "
                      "hive_partitioning = true) group by host").fetchall()
    assert rows == [("web-1", 2400)]


def test_the_checksum_sees_every_column_and_nothing_else():
    rec_calls = open_recording(build_once()).calls()
    base = checksum(rec_calls)
    assert checksum(rec_calls.take(np.random.default_rng(1).permutation(rec_calls.num_rows))) == base
    assert checksum(rec_calls.select(list(reversed(rec_calls.column_names)))) == base
    for name in rec_calls.column_names:        # one value changed in one row, for each column
        col = rec_calls[name].combine_chunks()
        values = col.to_pylist()
        other = {"status": "raised", "kind": "span", "exception": "KeyError"}.get(name)
        if other is None:
            other = (values[7] or 0) + 1
        values[7] = other
        changed = rec_calls.set_column(rec_calls.column_names.index(name), name, pa.array(values, col.type))
        assert checksum(changed) != base, name
    # a null is not a zero: a parent unknown vs parent 0
    idx = rec_calls.column_names.index("parent_id")
    parents = rec_calls["parent_id"].to_pylist()
    i = parents.index(None)
    zeroed = rec_calls.set_column(idx, "parent_id", pa.array(parents[:i] + [0] + parents[i + 1:], pa.int64()))
    assert checksum(zeroed) != base


_BUILT = {}


def build_once():
    """One small recording per test session, for the checksum test."""
    import tempfile
    if "rec" not in _BUILT:
        _BUILT["rec"] = build(__import__("pathlib").Path(tempfile.mkdtemp()) / "rec", segments=2)
    return _BUILT["rec"]


@pytest.mark.parametrize("damage", ["lose a row", "flip a status", "move a parent"])
def test_a_cold_file_that_differs_from_the_warm_rows_is_refused(tmp_path, monkeypatch, damage):
    folder = build(tmp_path / "rec", segments=3)
    before = answers(folder)
    warm = sorted(p.relative_to(folder) for p in folder.rglob("part-*.parquet"))
    real = compact_mod.write_parquet

    def damaging(table, path, kind=None):
        if kind == "calls":
            if damage == "lose a row":
                table = table.slice(1)
            else:
                name = "status" if damage == "flip a status" else "parent_id"
                values = table[name].to_pylist()
                values[0] = "raised" if name == "status" else (values[0] or 0) + 1
                table = table.set_column(table.column_names.index(name), name,
                                         pa.array(values, table.schema.field(name).type))
        real(table, path, kind)
    monkeypatch.setattr(compact_mod, "write_parquet", damaging)
    with pytest.raises(compact_mod.RecordingError, match="compacting calls .* (lost rows|changed values) .* nothing was changed"):
        compact(folder)
    monkeypatch.undo()
    assert not list((folder / "cold").rglob("*.parquet")) if (folder / "cold").exists() else True
    assert sorted(p.relative_to(folder) for p in folder.rglob("part-*.parquet")) == warm
    assert answers(folder) == before and verify(folder).healthy
    assert compact(folder).done and answers(folder) == before


KILLER = textwrap.dedent("""
    import os, signal, sys
    kill_at, count = int(sys.argv[2]), 0
    def counted(real):
        def call(*args, **kw):
            global count
            count += 1
            if count == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kw)
        return call
    for name in ("rename", "replace", "unlink", "rmdir"):   # every change compaction makes
        setattr(os, name, counted(getattr(os, name)))
    from scope.store.compact import compact
    compact(sys.argv[1])
    print(count)
""")


def test_sigkill_at_every_step_of_compaction_leaves_a_readable_recording(tmp_path):
    """The compaction runs as its own process, killed with SIGKILL just before its
    k-th change to the file system, for every k: each time every answer is as
    before, and compaction run again finishes the job."""
    pristine = build(tmp_path / "pristine", segments=3)
    before = answers(pristine)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))

    def run(folder, kill_at):
        return subprocess.run([sys.executable, str(script), str(folder), str(kill_at)],
                              capture_output=True, text=True, env=env, timeout=120)
    whole = tmp_path / "whole"
    shutil.copytree(pristine, whole)
    res = run(whole, 0)
    assert res.returncode == 0, res.stderr
    steps = int(res.stdout)
    assert steps >= 12 and answers(whole) == before      # cold files, catalog, session.json, 6 warm removed
    for k in range(1, steps + 1):
        folder = tmp_path / f"k{k}"
        shutil.copytree(pristine, folder)
        res = run(folder, k)
        assert res.returncode == -signal.SIGKILL, (k, steps, res.stderr)
        assert answers(folder) == before, k
        compact(folder)
        assert answers(folder) == before, k
        assert verify(folder).healthy and not (folder / "events").exists(), k
        assert not list(folder.rglob(".*.tmp")), k
        shutil.rmtree(folder)
