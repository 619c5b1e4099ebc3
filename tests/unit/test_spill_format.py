"""The spill's file format as `scope store recover` reads it (store/spill.py,
collector/recover.py): runs of both magics, raw and encoded, come back
exactly; a run that does not decode is counted and marked by a loss record,
and the runs after it are read."""
from __future__ import annotations

import json
import struct

import numpy as np

from scope import kinds
from scope.collector._drain import RECORD, encode
from scope.collector.recover import read_back
from scope.collector.shmring import EVENT
from scope.store.spill import MAGIC, MAGIC_RAW, rings, runs

PID = 4242


def calls(first: int, n: int) -> np.ndarray:
    """n records of a shim ring: alternating plain calls and returns."""
    ev = np.zeros(n, EVENT)
    ev["ts"] = 1000 + 10 * np.arange(first, first + n)
    ev["pid"], ev["tid"], ev["code"] = PID, PID, 0xE000_0001
    ev["kind"] = np.where(np.arange(first, first + n) % 2, kinds.RETURN, kinds.CALL)
    return ev


def write(folder, runs_: list[tuple[int, int, bytes, int]]) -> None:
    """runs_: (magic, first, payload, count)."""
    with open(folder / "rings.spill", "wb") as fh:
        for magic, first, payload, count in runs_:
            word = count if magic == MAGIC_RAW else count | len(payload) << 32
            fh.write(struct.pack("<QQQQ", magic, PID, first, word) + payload)
    (folder / "rings.json").write_text(json.dumps({"format": 1, "rings": [
        {"tag": PID, "pid": PID, "id_shift": 0, "own_pid_namespace": False, "first": 0}]}))


def test_raw_and_encoded_runs_of_either_magic_read_back_exactly(tmp_path):
    a, b, c = calls(0, 100), calls(100, 60), calls(160, 40)
    write(tmp_path, [(MAGIC_RAW, 0, a.tobytes(), 100), (MAGIC, 100, encode(b.tobytes()), 60),
                     (MAGIC, 160, c.tobytes(), 40)])
    found, stop = runs(tmp_path / "rings.spill")
    assert stop is None and [(r.first, r.count, r.raw) for r in found] == [(0, 100, True), (100, 60, False),
                                                                           (160, 40, True)]
    got = read_back(tmp_path / "rings.spill", rings(tmp_path))
    assert got.recovered == 200 and got.lost == 0 and got.unreadable == 0 and not got.errors
    assert got.records["ts"].tolist() == np.concatenate([a, b, c])["ts"].tolist()
    assert got.records["kind"].tolist() == np.concatenate([a, b, c])["kind"].tolist()


def test_a_run_that_does_not_decode_is_counted_and_marked(tmp_path):
    a, b, c = calls(0, 100), calls(100, 60), calls(160, 40)
    bad = b"\xff" * len(encode(b.tobytes()))
    write(tmp_path, [(MAGIC, 0, encode(a.tobytes()), 100), (MAGIC, 100, bad, 60), (MAGIC, 160, encode(c.tobytes()), 40)])
    got = read_back(tmp_path / "rings.spill", rings(tmp_path))
    assert got.recovered == 140 and got.unreadable == 60 and got.lost == 0
    assert "the run at byte" in got.errors[0] and "not 60 encoded records" in got.errors[0]
    loss = got.records[got.records["kind"] == kinds.LOSS]
    assert loss["arg"].tolist() == [60] and loss["ts"].tolist() == [c["ts"][0]]      # where they were
    assert got.records["ts"][got.records["kind"] != kinds.LOSS].tolist() == np.concatenate([a, c])["ts"].tolist()


def test_a_header_whose_size_is_not_its_runs_stops_the_walk(tmp_path):
    """A size above count * 32, or of zero: not a run header; the runs before it are read."""
    a = calls(0, 10)
    for size in (10 * RECORD + 1, 0):
        with open(tmp_path / "rings.spill", "wb") as fh:
            fh.write(struct.pack("<QQQQ", MAGIC, PID, 0, 10 | (10 * RECORD) << 32) + a.tobytes())
            fh.write(struct.pack("<QQQQ", MAGIC, PID, 10, 10 | size << 32) + a.tobytes())
        found, stop = runs(tmp_path / "rings.spill")
        assert len(found) == 1 and stop == f"no run header at byte {32 + 10 * RECORD:,}"
