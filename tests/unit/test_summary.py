"""--top from per-segment summaries (store/summary.py, store/summarytop.py)
against --top from every call, on generated recordings: counts, totals, self
times and means the same; percentiles within the sketch's stated error; a
summary that does not match its segment, or does not read, is not used."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scope.store import query, schema, summary
from scope.store.build import calls_table
from scope.store.compact import compact
from scope.store.reader import Recording, open_recording
from scope.store.writer import RecordingWriter

START = 10**12
EXACT = ("function", "file", "line", "calls", "total_ns", "self_ns", "mean_ns")
STATUSES = ("complete", "complete", "complete", "raised", "start_unseen", "open")


def write(folder: Path, segments: list[list[tuple]]) -> Path:
    """Each segment a list of calls (tid, code_id, start offset ns, duration ns, status)."""
    w = RecordingWriter(folder)
    next_id = 1
    for calls in segments:
        n = len(calls)
        tid, code, start, dur, status = (list(c) for c in zip(*calls)) if calls else ([], [], [], [], [])
        start = np.array(start, np.int64) + START
        dur = np.array(dur, np.int64)
        unseen = np.array([s == "start_unseen" for s in status], bool)
        opened = np.array([s == "open" for s in status], bool)
        end = np.where(opened, -1, start + dur)
        w.add_calls(calls_table({
            "call_id": np.arange(next_id, next_id + n), "parent_id": np.full(n, -1), "depth": np.zeros(n, int),
            "pid": np.full(n, 7), "tid": np.array(tid, int), "code_id": np.array(code, np.int64),
            "start_ns": np.where(unseen, -1, start), "end_ns": end,
            "duration_ns": np.where(unseen | opened, -1, dur), "self_ns": np.where(opened, -1, dur // 2),
            "status": list(status), "exc_id": np.zeros(n, int)}))
        next_id += n
        w.flush()
    w.write_table("code.parquet", pa.table({
        "code_id": [1, 2, 3], "pid": [7] * 3, "kind": ["code"] * 3, "file": ["/a.py"] * 3,
        "function": ["fast", "slow", "flat"], "first_line": [1, 5, 9], "truncated": [False] * 3,
        "qualname": ["fast", "slow", "flat"]}, schema=schema.CODE))
    w.write_table("threads.parquet", schema.THREADS.empty_table())
    w.write_table("processes.parquet", schema.PROCESSES.empty_table())
    w.write_session({"started_ns": START, "stopped_ns": START + 10**12, "host": "h",
                     "clock": {"monotonic_ns": START, "realtime_ns": 1_700_000_000 * 10**9},
                     "target": {"pid": 7}, "drops": {}, "counts": {"events": {}}})
    return folder


def same_top(rec: Recording, f: query.Filters) -> None:
    fast, exact = query.top(rec, f).to_pylist(), query.top(rec, f, exact=True).to_pylist()
    assert [{k: r[k] for k in EXACT} for r in fast] == [{k: r[k] for k in EXACT} for r in exact]
    for a, b in zip(fast, exact):
        for p in ("p50_ns", "p95_ns", "p99_ns"):
            assert (a[p] is None) == (b[p] is None)
            if b[p] is not None:
                assert abs(a[p] - b[p]) <= summary.ALPHA * b[p] + 1, (a["function"], p, a[p], b[p])


call = st.tuples(st.sampled_from([1, 2]), st.sampled_from([1, 2, 3]), st.integers(0, 10**9),
                 st.one_of(st.integers(0, 10), st.integers(0, 10**9)), st.sampled_from(STATUSES))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segments=st.lists(st.lists(call, max_size=60), min_size=1, max_size=4),
       since=st.integers(0, 1000), until=st.integers(0, 1000))
def test_summaries_answer_as_every_call_does(tmp_path_factory, segments, since, until):
    # starts within each segment's own second, so time ranges cut through some segments
    segments = [[(t, c, k * 10**9 + s, d, st_) for t, c, s, d, st_ in seg] for k, seg in enumerate(segments)]
    rec = open_recording(write(tmp_path_factory.mktemp("rec") / "rec", segments))
    lo, hi = sorted((since, until))
    for f in (query.Filters(), query.Filters(tid=1), query.Filters(function="s*"),
              query.Filters(since=str(lo / 250), until=str(hi / 250))):
        same_top(rec, f)


def test_percentiles_of_many_calls_are_within_the_stated_error(tmp_path):
    rng = np.random.default_rng(7)
    dur = rng.lognormal(10, 2, 30_000).astype(np.int64)
    segs = [[(1, 2, i, int(d), "complete") for i, d in enumerate(part)] for part in np.array_split(dur, 3)]
    rec = open_recording(write(tmp_path / "rec", segs))
    same_top(rec, query.Filters())
    (row,) = [r for r in query.top(rec, query.Filters()).to_pylist() if r["function"] == "slow"]
    assert row["calls"] == 30_000 and row["total_ns"] == int(dur.sum())


def test_over_everything_no_call_is_read(tmp_path, monkeypatch):
    """The positive control that the summaries answer: reading calls fails."""
    rec = open_recording(write(tmp_path / "rec", [[(1, 1, i, 5 + i, "complete") for i in range(50)]] * 3))
    expected = query.top(rec, query.Filters(), exact=True)
    monkeypatch.setattr(Recording, "calls", lambda *a, **k: pytest.fail("read calls row by row"))
    assert query.top(rec, query.Filters()).to_pylist() == expected.to_pylist()


def test_a_summary_that_does_not_match_or_read_is_not_used(tmp_path):
    folder = write(tmp_path / "rec", [[(1, 1, i, 10 * i, "complete") for i in range(20)],
                                      [(1, 2, i, 3 * i, "complete") for i in range(30)]])
    rec = open_recording(folder)
    expected = query.top(rec, query.Filters(), exact=True).to_pylist()
    first, second = rec.meta["calls_segments"]
    # a summary of other rows (as one left from a replaced file would be)
    stale = summary.summarize(pa.concat_tables([rec.calls()] * 2))
    import pyarrow.parquet as pq
    pq.write_table(stale, folder / summary.location(first))
    (folder / summary.location(second)).write_bytes(b"not parquet")
    assert query.top(open_recording(folder), query.Filters()).to_pylist() == expected


def test_compaction_gives_its_files_summaries(tmp_path):
    folder = write(tmp_path / "rec", [[(1, 1 + i % 3, i * 10**6, 7 * i, "complete") for i in range(100)]] * 4)
    before = query.top(open_recording(folder), query.Filters()).to_pylist()
    assert compact(folder).done
    rec = open_recording(folder)
    assert all(s.startswith("cold/") and rec.summary(s) is not None for s in rec.meta["calls_segments"])
    assert not list((folder / summary.FOLDER / "calls").glob("*")) if (folder / summary.FOLDER / "calls").exists() \
        else True
    assert query.top(rec, query.Filters()).to_pylist() == before


def test_the_sketch_keeps_its_promise():
    d = np.unique(np.concatenate([np.arange(0, 2000), np.geomspace(1, 10**12, 5000).astype(np.int64)]))
    v = summary.value_of(summary.bucket_of(d))
    assert (np.abs(v - d) <= summary.ALPHA * d + 1).all()
    assert summary.value_of(np.array([summary.ZERO]))[0] == 0


def test_one_row_per_key_and_one_cell_per_bucket():
    """The invariant pyarrow's hash group-by broke under QEMU's TCG (both Debian
    guests): equal keys in one row, each bucket once in it, the counts adding up
    — here over chunks whose dictionaries differ (segments read together) and
    a pid and thread past 2**16."""
    rng = np.random.default_rng(5)
    chunks = []
    for statuses in (["complete", "raised"], ["open", "complete", "start_unseen"]):
        n = 20_000
        dur = rng.integers(0, 300, n) * 1000
        chunks.append(pa.table({
            "pid": pa.array(rng.choice([7, 70_000], n), pa.int32()),
            "tid": pa.array(rng.choice([7, 70_001, 3], n), pa.int32()),
            "code_id": pa.array(rng.choice([1, 2**32 - 1, 3_758_096_385], n), pa.uint32()),
            "kind": pa.array(rng.choice(["call", "span"], n)).dictionary_encode(),
            "status": pa.array(rng.choice(statuses, n)).dictionary_encode(),
            "duration_ns": pa.array(dur, mask=rng.random(n) < 0.1),
            "self_ns": pa.array(dur // 2, mask=rng.random(n) < 0.2)}))
    calls = pa.concat_tables(chunks)
    s = summary.summarize(calls)
    keys = list(zip(*(calls[k].to_pylist() for k in summary.KEYS)))
    got = {tuple(r[k] for k in summary.KEYS): r for r in s.to_pylist()}
    assert len(got) == s.num_rows == len(set(keys))
    for key, r in got.items():
        assert len(set(r["buckets"])) == len(r["buckets"])
        mine = [i for i, k in enumerate(keys) if k == key]
        durs = [d for d in (calls["duration_ns"][i].as_py() for i in mine) if d is not None]
        assert r["calls"] == len(mine) and r["timed"] == len(durs) == sum(r["counts"])
        assert r["total_ns"] == sum(durs) and (r["min_ns"], r["max_ns"]) == ((min(durs), max(durs)) if durs
                                                                           else (None, None))
