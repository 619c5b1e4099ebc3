"""Live readers: `scope query --live` on a recording in progress sees the calls
that have not reached disk (the collector's hot tier), each exactly once, before
and after the segments roll; with the collector gone, the disk alone."""
import os
import signal
import time

from .conftest import query_json, shim_target_attached

N = 12_345


def wait_for(path, timeout=30):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def live_top(out, *, until_inner=0, timeout=3.0):
    """--live --top; asked again (up to timeout) until inner() has this many calls:
    a live answer is as of the collector's latest poll (every 100 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        got = {r["function"]: r["calls"] for r in query_json(out, "--live", "--top", "--file", "*/targets/*")}
        if got.get("inner", 0) >= until_inner or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def wait_capturing(out, timeout=10.0):
    """The shim turns capture on within a poll of its switch after attach: seen
    live as the idle loop's calls arriving."""
    deadline = time.monotonic() + timeout
    while "idle" not in live_top(out, timeout=0):
        assert time.monotonic() < deadline, "call capture never came on"
        time.sleep(0.05)


def test_live_query_sees_the_hot_tier_exactly_once(tmp_path):
    with shim_target_attached(tmp_path, "phases.py", str(tmp_path), str(N)) as (_, scope, out):
        started = time.monotonic()
        wait_capturing(out)
        (tmp_path / "go").touch()
        wait_for(tmp_path / "done")
        first = live_top(out, until_inner=N)
        hot_only = time.monotonic() - started < 4.5     # before the first 5 s roll
        assert first["inner"] == N and first["outer"] == 1 and first["phase"] == 1
        running = query_json(out, "--live", "--calls", "--function", "idle")
        assert any(r["status"] == "open" for r in running) or all(r["status"] == "complete" for r in running)
        time.sleep(5.5)                                   # now the phase is in a warm segment
        assert sorted((out / "calls").glob("part-*.parquet"))
        second = live_top(out)
        assert (second["inner"], second["outer"], second["phase"]) == (N, 1, 1)
        scope.send_signal(signal.SIGINT)
        _, err = scope.communicate(timeout=60)
        assert scope.returncode == 0, err
        assert not (out / "live.sock").exists()
        final = live_top(out)              # finished: --live reads it as it is
        assert (final["inner"], final["outer"]) == (N, 1)
        print(f"first live answer before any call segment: {hot_only}")


def test_live_query_without_a_collector_reads_the_disk(tmp_path):
    with shim_target_attached(tmp_path, "phases.py", str(tmp_path), str(N)) as (_, scope, out):
        wait_capturing(out)
        (tmp_path / "go").touch()
        wait_for(tmp_path / "done")
        time.sleep(5.5)                                   # one roll: the phase is on disk
        os.kill(scope.pid, signal.SIGKILL)
        scope.wait()
        assert (out / "live.sock").exists()               # left behind by the kill
        got = live_top(out)
        assert (got["inner"], got["outer"]) == (N, 1)
