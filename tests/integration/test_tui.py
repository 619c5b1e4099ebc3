"""`scope tui` over real recordings (real eBPF, real interpreters), driven by the
pilot: what it shows at a moment is what `scope query --at` says; live mode
follows a recording in progress."""
import json
import signal
import time

from scope.store.query import parse_time
from scope.tui.datasource import LiveSource, RecordingSource
from scope.tui.testing import drive
from scope.tui.timeline import Timeline

from .conftest import PYTHON, TARGETS, query_json, run_scope, shim_target_attached, wait_capturing, wait_for


def test_the_moment_inside_inner_matches_query_at(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "travel.py"))
    assert res.returncode == 0, res.stderr
    inner = query_json(out, "--calls", "--function", "inner")[0]
    t_text = f"{inner['start_s'] + 0.15:.6f}"
    seen = {}

    async def steps(pilot, screen):
        tl = screen.query_one(Timeline)
        await pilot.press("s")                          # the slowest call: the whole main()
        await pilot.pause()
        seen["view"] = (tl.lo, tl.hi)
        tl.move_to(parse_time(t_text, screen.source.rec))
        await pilot.press("6")
        await pilot.pause()
        rows = screen.source.moment(tl.cursor).to_pylist()
        seen["stacks"] = sorted((r["tid"], r["level"], r["name"]) for r in rows if r["section"] == "stack")
        seen["panel"] = str(screen.query_one("#moment-text").render())
        flame = screen.query_one("#flame-graph").root
        seen["flame"] = {c.name for c in flame.children} | {g.name for c in flame.children for g in c.children}
    drive(RecordingSource.open(out), steps)
    cli = query_json(out, "--at", t_text)
    assert seen["stacks"] == sorted((r["tid"], r["level"], r["name"]) for r in cli if r["section"] == "stack")
    names = [name for _, _, name in seen["stacks"]]
    assert "inner" in names and "wait_here" in names
    assert '{"step":1}' in seen["panel"]
    assert "main" in seen["flame"] or "<module>" in seen["flame"]


def test_live_mode_follows_a_recording_in_progress(tmp_path):
    n = 4321
    with shim_target_attached(tmp_path, "phases.py", str(tmp_path), str(n)) as (_, scope, out):
        wait_capturing(out)
        source = LiveSource(out)
        seen = {}

        async def steps(pilot, screen):
            tl = screen.query_one(Timeline)
            seen["stop0"] = screen.source.stop_ns
            (tmp_path / "go").touch()
            wait_for(tmp_path / "done")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                await pilot.pause(1.2)                  # the view refreshes every second
                calls = screen.source.flame_calls(screen.source.start_ns, screen.source.stop_ns)
                counts = {}
                for name in calls["function"].to_pylist():
                    counts[name] = counts.get(name, 0) + 1
                if counts.get("inner", 0) >= n:
                    break
            seen["inner"] = counts.get("inner", 0)
            seen["stop1"] = screen.source.stop_ns
            seen["following"] = tl.hi >= screen.source.stop_ns - 2 * tl.cell_ns()
            seen["title"] = screen.sub_title
        drive(source, steps)
        scope.send_signal(signal.SIGINT)
        scope.communicate(timeout=60)
    assert seen["inner"] == n
    assert seen["stop1"] > seen["stop0"] and seen["following"] and "LIVE" in seen["title"]
    meta = json.loads((out / "session.json").read_text())
    assert sum(meta["drops"].values()) == 0
