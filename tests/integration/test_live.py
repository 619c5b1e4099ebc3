"""Live readers: `scope query --live` on a recording in progress sees the calls
that have not reached disk (the collector's hot tier), each exactly once, before
and after the segments roll; with the collector gone, the disk alone.

The roll is driven by `--write-every`: an hour (nothing reaches disk during the
test, so a live answer can only come from memory) or 200 ms (waited for by
watching the disk, never by sleeping a guessed time)."""
import os
import signal
import time

from .conftest import live_top, query_json, shim_target_attached, wait_capturing, wait_for, wait_until

N = 12_345


def live_top_until(out, *, until_inner=0, timeout=5.0):
    """--live --top; asked again (up to timeout) until inner() has this many calls:
    a live answer is as of the collector's latest poll (every 100 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        got = live_top(out, "--live")
        if got.get("inner", 0) >= until_inner or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def run_phase(tmp_path, out):
    """Capture on (the idle loop's calls arrive live), then the phase, then done."""
    wait_capturing(out)
    (tmp_path / "go").touch()
    wait_for(tmp_path / "done")


def segments(out):
    return sorted((out / "calls").glob("part-*.parquet")) if (out / "calls").is_dir() else []


def test_live_query_answers_from_memory_alone(tmp_path):
    with shim_target_attached(tmp_path, "phases.py", str(tmp_path), str(N),
                              options=("--write-every", "3600s")) as (_, scope, out):
        run_phase(tmp_path, out)
        first = live_top_until(out, until_inner=N)
        assert segments(out) == []              # nothing on disk: all of it from the hot tier
        assert live_top(out) == {}                   # ...as the disk alone says
        assert (first["inner"], first["outer"], first["phase"], first["squares"]) == (N, 1, 1, 1)
        # a call in progress is seen live as open: idle() sleeps 2 ms in a loop, so most
        # answers catch one running; at most one at a time, and the rest complete
        def statuses():
            return [r["status"] for r in query_json(out, "--live", "--calls", "--function", "idle")]
        seen = []

        def caught_open():
            seen.append(statuses())
            return "open" in seen[-1]
        wait_until(caught_open, "an open idle() call")
        assert all(s.count("open") <= 1 and set(s) <= {"open", "complete", "start_unseen"} for s in seen)
        assert all(s.count("complete") >= 100 for s in seen), [len(s) for s in seen]
        assert all(r["status"] == "complete"
                   for r in query_json(out, "--live", "--calls", "--function", "inner"))
        scope.send_signal(signal.SIGINT)
        _, err = scope.communicate(timeout=60)
        assert scope.returncode == 0, err
        assert not (out / "live.sock").exists()
        final = live_top(out, "--live")               # finished: --live reads it as it is
        assert (final["inner"], final["outer"], final["phase"]) == (N, 1, 1)


def test_live_query_counts_each_call_once_across_a_roll(tmp_path):
    with shim_target_attached(tmp_path, "phases.py", str(tmp_path), str(N),
                              options=("--write-every", "200ms")) as (_, scope, out):
        run_phase(tmp_path, out)
        wait_until(lambda: live_top(out).get("inner") == N, "the phase reached disk")
        got = live_top(out, "--live")                       # disk and memory together, no call twice
        assert (got["inner"], got["outer"], got["phase"]) == (N, 1, 1)
        scope.send_signal(signal.SIGINT)
        _, err = scope.communicate(timeout=60)
        assert scope.returncode == 0, err


def test_live_query_without_a_collector_reads_the_disk(tmp_path):
    with shim_target_attached(tmp_path, "phases.py", str(tmp_path), str(N),
                              options=("--write-every", "200ms")) as (_, scope, out):
        run_phase(tmp_path, out)
        wait_until(lambda: live_top(out).get("inner") == N, "the phase reached disk")
        os.kill(scope.pid, signal.SIGKILL)
        scope.wait()
        assert (out / "live.sock").exists()               # left behind by the kill
        got = live_top(out, "--live")
        assert (got["inner"], got["outer"]) == (N, 1)
