"""scope store verify: damage and an unfinished tail found, good files untouched."""
import subprocess
import sys

from scope.store.verify import verify

from .recording import START, write_recording
from .streams import tree_events

CODE = {1: ("main", "/app/main.py"), 2: ("work", "/app/work.py")}


def make(tmp_path):
    _, _, ev = tree_events([(1, [(2, [])] * 50)], tid=1, t0=START + 100)
    return write_recording(tmp_path / "rec", ev, CODE, segment_rows=40)


def run(folder):
    return subprocess.run([sys.executable, "-m", "scope", "store", "verify", str(folder)],
                          capture_output=True, text=True)


def test_a_healthy_recording(tmp_path):
    folder = make(tmp_path)
    rep = verify(folder)
    assert rep.healthy and not rep.damaged and len(rep.ok) >= 5
    assert run(folder).returncode == 0


def test_a_truncated_segment_is_reported_and_nothing_else(tmp_path):
    folder = make(tmp_path)
    seg = folder / "events" / "part-000000.parquet"
    before = {p: p.read_bytes() for p in folder.rglob("*.parquet") if p != seg}
    seg.write_bytes(seg.read_bytes()[:100])
    rep = verify(folder)
    assert [name for name, _ in rep.damaged] == ["events/part-000000.parquet"]
    assert all(p.read_bytes() == data for p, data in before.items())     # untouched
    res = run(folder)
    assert res.returncode == 1 and "damaged   events/part-000000.parquet" in res.stdout
    assert len(res.stderr.strip().splitlines()) == 1


def test_an_unfinished_recording_shows_its_tail(tmp_path):
    folder = make(tmp_path)
    (folder / "session.json").unlink()
    (folder / "events" / ".part-000009.parquet.tmp").write_bytes(b"half")
    rep = verify(folder)
    assert not rep.finished and rep.unlisted and rep.partial == ["events/.part-000009.parquet.tmp"]
    res = run(folder)
    assert res.returncode == 1 and "UNFINISHED" in res.stdout and "tail" in res.stdout
