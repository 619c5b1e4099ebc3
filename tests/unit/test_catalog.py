"""The catalog: queries open only the segments they need; an unfinished recording
(no session.json) is read through it."""
import numpy as np
import pyarrow as pa

from scope import kinds
from scope.store import catalog, schema
from scope.store.query import Filters, events
from scope.store.reader import open_recording
from scope.store.writer import RecordingWriter

from .recording import START, write_recording
from .streams import to_records


def three_segments(tmp_path):
    # 3 segments of 20 events: 0-190 ns, 1 s later, 2 s later
    folder = write_recording(tmp_path / "rec", [], {1: ("f", "/f.py")})
    w = RecordingWriter(folder, segment_rows=20)
    for k in range(3):
        w.add_events(to_records([(START + k * 10**9 + i * 10, 1, kinds.CALL if i % 2 == 0 else kinds.RETURN, 1)
                                 for i in range(20)]))
    meta = dict(open_recording(folder).meta)
    w.write_session({k: v for k, v in meta.items() if k not in ("segments", "calls_segments")})
    return folder


def test_events_in_a_time_range_open_only_overlapping_segments(tmp_path):
    rec = open_recording(three_segments(tmp_path))
    cat = catalog.load(rec.folder)
    assert [e["rows"] for e in cat["events"]] == [20, 20, 20]
    assert catalog.overlapping(cat["events"], START + 10**9, START + 10**9 + 500) == ["events/part-000001.parquet"]
    assert rec.events(START + 10**9, START + 10**9 + 500).num_rows == 20     # one file opened
    assert rec.events().num_rows == 60
    rows = events(rec, Filters(since="1.0", until="1.5"))
    assert rows.num_rows == 20


def test_an_unfinished_recording_reads_through_its_catalog(tmp_path):
    w = RecordingWriter(tmp_path / "rec", segment_rows=10)
    w.catalog.set_header({"started_ns": START, "host": "h", "target": {"pid": 1},
                          "clock": {"monotonic_ns": START, "realtime_ns": 1_700_000_000 * 10**9}})
    for lo, hi in ((0, 10), (10, 20), (20, 25)):
        w.add_events(to_records([(START + i, 1, kinds.CALL, 1) for i in range(lo, hi)]))
    w.add_code(pa.table({"code_id": [1], "pid": [1], "kind": ["code"], "file": ["/f.py"], "function": ["f"],
                         "first_line": [1], "truncated": [False], "qualname": ["f"]}, schema=schema.CODE))
    # killed here: 20 events in two segments, 5 pending and lost, no session.json
    rec = open_recording(tmp_path / "rec")
    assert rec.unfinished and rec.events().num_rows == 20
    assert events(rec, Filters()).column("function").to_pylist() == ["f"] * 20
    assert np.all(rec.events()["ts"].to_numpy()[:-1] <= rec.events()["ts"].to_numpy()[1:])


def test_a_call_still_running_is_found_after_its_start(tmp_path):
    from scope.collector.correlate import Correlator
    from scope.store.build import calls_table
    from scope.store.travel import at
    w = RecordingWriter(tmp_path / "rec")
    w.catalog.set_header({"started_ns": START, "host": "h", "target": {"pid": 1},
                          "clock": {"monotonic_ns": START, "realtime_ns": 1_700_000_000 * 10**9}})
    c = Correlator()
    ev = to_records([(START + 10, 1, kinds.CALL, 1), (START + 20, 1, kinds.CALL, 2),
                     (START + 30, 1, kinds.RETURN, 2)])
    c.feed(ev["ts"].astype(np.int64), ev["pid"], ev["tid"], ev["kind"], ev["code"], ev["line"])
    w.add_calls(calls_table(c.drain()))                     # the finished call: 20-30 ns
    w.flush()
    c.finish()
    w.add_calls(calls_table(c.drain(everything=True)))      # main: started at 10, never returned
    w.flush()
    w.add_code(pa.table({"code_id": [1, 2], "pid": [1, 1], "kind": ["code"] * 2, "file": ["/m.py"] * 2,
                         "function": ["main", "f"], "first_line": [1, 1], "truncated": [False] * 2,
                         "qualname": ["main", "f"]},
                        schema=schema.CODE))
    rec = open_recording(tmp_path / "rec")
    assert rec.calls(START + 10**9, START + 10**9).num_rows == 1     # only main's segment
    stack = [r["name"] for r in at(rec, START + 10**9).to_pylist() if r["section"] == "stack"]
    assert stack == ["main"]


def test_segments_are_pruned_by_code_ids_and_list_their_threads(tmp_path):
    folder = write_recording(tmp_path / "rec", [], {1: ("f", "/f.py"), 2: ("g", "/g.py")})
    w = RecordingWriter(folder, segment_rows=20)
    for k, code in enumerate((1, 2, 1)):       # f, then g, then f again
        w.add_events(to_records([(START + k * 10**9 + i * 10, 3 + k, kinds.CALL if i % 2 == 0 else kinds.RETURN,
                                  code) for i in range(20)]))
    meta = dict(open_recording(folder).meta)
    w.write_session({k: v for k, v in meta.items() if k not in ("segments", "calls_segments")})
    cat = catalog.load(folder)
    assert [(e["tids"], e["code_ids"]) for e in cat["events"]] == [([3], [1]), ([4], [2]), ([5], [1])]
    rec = open_recording(folder)
    assert catalog.select(rec.meta["segments"], cat["events"], None, None, code_ids={2}) == [
        "events/part-000001.parquet"]
    assert rec.events(code_ids={2}).num_rows == 20
    assert events(rec, Filters(function="g")).num_rows == 20
    assert events(rec, Filters(function="f")).num_rows == 40
    assert events(rec, Filters(function="nothing*")).num_rows == 0


# one of each kind of question: aggregates, call rows, the slowest, a time window
# of events (the catalog prunes by time), a moment, app events, a call in its context, SQL
QUESTIONS = [["--top"], ["--calls"], ["--slowest", "3"], ["--since", "0.009", "--until", "0.1"],
             ["--at", "0.1"], ["--kind", "state", "--kind", "mark"], ["--around", "4"],
             ["--sql", "select count(*) n, sum(duration_ns) d from calls"]]


def _answers(capsys, folder) -> tuple[int, list[str], str]:
    from scope.cli import main
    codes, outs, errs = 0, [], ""
    for q in QUESTIONS:
        codes |= main(["query", "--parquet", str(folder), *q, "--format", "json"])
        out, err = capsys.readouterr()
        outs.append(out)
        errs += err
    return codes, outs, errs


def test_a_missing_or_damaged_catalog_costs_speed_not_answers(tmp_path, capsys):
    """Without catalog.json (deleted, or not JSON) every segment is read: the
    answers are the same; compaction, which needs it, says so in one line."""
    from scope.cli import main

    from .recording import write_story
    folder = write_story(tmp_path / "rec")
    code, expected, err = _answers(capsys, folder)
    assert code == 0 and err == ""
    assert all(out.strip() not in ("", "[]") for out in expected), dict(zip(map(str, QUESTIONS), expected))
    for damage in (lambda p: p.unlink(), lambda p: p.write_text("{ not json"),
                   lambda p: p.write_text('{"format": "something-else"}')):
        damage(folder / "catalog.json")
        assert _answers(capsys, folder) == (0, expected, "")
        assert main(["store", "compact", str(folder)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no readable catalog.json" in err and "Traceback" not in err
        (folder / "catalog.json").unlink(missing_ok=True)
