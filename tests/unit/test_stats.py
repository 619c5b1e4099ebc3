"""scope stats: anomalies by median/MAD, GC pauses with the call they interrupted."""
import pytest

from scope import kinds
from scope.store import stats
from scope.store.reader import open_recording

from .recording import START, write_recording

MAIN, F = 1, 2
CODE = {MAIN: ("main", "/app/main.py"), F: ("f", "/app/f.py")}


@pytest.fixture
def rec(tmp_path):
    ev, t = [(START + 100, 1, kinds.CALL, MAIN)], START + 200
    durations = [100 + (i % 5) for i in range(30)] + [5000]      # one call 50x its median
    for i, d in enumerate(durations):
        ev.append((t, 1, kinds.CALL, F))
        if i == 30:                                              # a GC pause inside the slow call
            ev += [(t + 10, 1, kinds.GC_START, 0), (t + 4000, 1, kinds.GC_DONE, 0)]
        ev.append((t + d, 1, kinds.RETURN, F))
        t += d + 10
    ev.append((t + 10, 1, kinds.RETURN, MAIN))
    return open_recording(write_recording(tmp_path / "rec", ev, CODE))


def test_the_outlier_is_found_with_its_stack(rec):
    rows = stats.anomalies(rec).to_pylist()
    assert len(rows) == 1
    r = rows[0]
    assert r["function"] == "f" and r["duration_ns"] == 5000 and r["median_ns"] == 102
    assert r["mad_ns"] == 1 and r["z"] > 3.5 and r["stack"] == "main > f"


def test_gc_pause_and_the_call_it_interrupted(rec):
    summary, rows = stats.gc_pauses(rec)
    assert summary == {"count": 1, "total_ns": 3990, "longest_ns": 3990}
    assert rows.to_pylist()[0]["interrupted"] == "main > f"


def test_report_has_every_section(rec):
    assert list(stats.report(rec)) == ["top functions", "gc", "gc pauses", "imports", "slowest calls",
                                       "anomalies"]
