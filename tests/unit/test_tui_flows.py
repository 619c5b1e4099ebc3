"""`scope tui` driven by Textual's pilot over recordings written by the real
writer: open -> zoom to the slowest call -> the moment at the cursor is what
`scope query --at` says -> play -> highlight a function and step through its
calls -> search the events. Bad input: a message, never a traceback."""
import json

import pytest

from scope.cli import main
from scope.store.query import parse_time
from scope.tui.app import MainScreen
from scope.tui.datasource import RecordingSource, StoreSource
from scope.tui.testing import drive
from scope.tui.timeline import Timeline

from .recording import START, write_big, write_story


def at_cli(folder, t_text, capsys):
    capsys.readouterr()
    assert main(["query", "--parquet", str(folder), "--at", t_text, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    return [(r["tid"], r["level"], r["name"]) for r in rows if r["section"] == "stack"]


def shown_stacks(screen):
    t = screen.query_one(Timeline).cursor
    rows = screen.source.moment(t).to_pylist()
    return [(r["tid"], r["level"], r["name"]) for r in rows if r["section"] == "stack"]


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    return write_story(tmp_path_factory.mktemp("tui") / "rec")


def test_slowest_call_moment_play_highlight_and_search(story, capsys):
    seen = {}

    async def steps(pilot, screen):
        assert isinstance(screen, MainScreen)
        tl = screen.query_one(Timeline)
        await pilot.press("s")                        # zoom to the slowest call: main (all of it)
        await pilot.pause()
        slow = screen.source.slowest(1).to_pylist()[0]
        start = START + int(slow["start_s"] * 1e9)
        assert tl.lo <= start and tl.hi >= start + slow["duration_ns"]
        # the slow query_db: put the cursor inside it, as a user would with the keys
        text = "0.200"                                # 200 ms: inside the second request's query
        tl.move_to(parse_time(text, screen.source.rec))
        await pilot.pause()
        seen["stacks"] = shown_stacks(screen)
        seen["panel"] = str(screen.query_one("#moment-text").render())
        before = tl.cursor
        await pilot.press("space")                    # play ~1 s of recording time at 1x
        await pilot.pause(1.0)
        await pilot.press("space")
        seen["played"] = tl.cursor - before
        await pilot.press("2")                        # top functions, then highlight parse
        await pilot.pause()
        top = screen.query_one("#top-table")
        names = [str(top.get_row_at(i)[0]) for i in range(top.row_count)]
        top.move_cursor(row=names.index("parse"))
        top.focus()
        await pilot.press("enter")
        await pilot.pause()
        seen["highlight"] = tl.highlight
        tl.move_to(START)
        await pilot.press("n")
        await pilot.pause()
        seen["next_parse"] = tl.cursor
        await pilot.press("s")                        # the slowest call of the highlighted function
        await pilot.pause()
        seen["slowest_parse"] = screen.source.moment(tl.cursor).to_pylist()
        await pilot.press("slash")
        await pilot.press(*"query")
        await pilot.pause()
        events = screen.query_one("#events-table")
        seen["searched"] = {str(events.get_row_at(i)[3]) for i in range(events.row_count)}
    drive(RecordingSource.open(story), steps)
    assert seen["stacks"] == at_cli(story, "0.200", capsys)
    assert [name for tid, _, name in seen["stacks"] if tid == 1] == ["main", "handle", "query_db"]
    assert "query_db" in seen["panel"] and "degraded" in seen["panel"] and "was" in seen["panel"]
    assert 0.5e9 <= seen["played"] <= 1.6e9
    assert seen["highlight"] == "parse"
    assert seen["next_parse"] == START + 10_000_000 + 1_000_000      # the first parse() call
    assert seen["searched"] == {"query_db"}
    assert [r["name"] for r in seen["slowest_parse"] if r["section"] == "stack" and r["tid"] == 1][-1] == "parse"


def test_a_million_events_open_and_answer(tmp_path):
    """≥ 1M events: the first screen and a zoom come from pruned reads (the app never
    loads the recording into Python objects: only the blocks at least a cell wide)."""
    folder = write_big(tmp_path / "big")
    seen = {}

    async def steps(pilot, screen):
        tl = screen.query_one(Timeline)
        blocks = screen.source.blocks(tl.lo, tl.hi, min_ns=tl.cell_ns(), max_depth=8)
        seen["whole"] = sum(len(b) for b in blocks.values())
        await pilot.press("s")
        await pilot.pause()
        seen["view"] = tl.hi - tl.lo
        seen["stacks"] = shown_stacks(screen)
    drive(RecordingSource.open(folder), steps)
    assert seen["whole"] < 1000                        # 250k calls, none a cell (83 ms) long
    assert seen["view"] < 10**7 and seen["stacks"]


def test_store_opens_on_its_recordings(story, tmp_path):
    import shutil
    root = tmp_path / "store"
    shutil.copytree(story, root / "one")
    shutil.copytree(story, root / "two")
    seen = {}

    async def steps(pilot, screen):
        table = screen.query_one("#recordings")
        seen["rows"] = table.row_count
        await pilot.press("down", "enter")
        await pilot.pause()
        seen["opened"] = pilot.app.screen.source.name
    drive(StoreSource(root), steps)
    assert seen == {"rows": 2, "opened": "two"}
    drive(StoreSource([root / "two", root / "one"]), steps)       # scope tui DIR DIR: those, in order
    assert seen == {"rows": 2, "opened": "one"}


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for argv in (["tui", str(tmp_path / "empty")], ["tui", str(tmp_path / "nowhere")],
                 ["tui", str(tmp_path), str(tmp_path)]):
        assert main(argv) in (1, 2)
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("scope: error:"), err


def test_a_damaged_segment_is_a_message_not_a_traceback(story, tmp_path):
    import shutil
    folder = tmp_path / "rec"
    shutil.copytree(story, folder)
    seg = sorted((folder / "calls").glob("part-*.parquet"))[0]
    seg.write_bytes(seg.read_bytes()[:100])
    # a damaged calls segment: the recording opens, says what is damaged, and the
    # threads and events stay explorable
    source = RecordingSource.open(folder)
    assert [(lane.pid, lane.tid) for lane in source.lanes()] == [(1, 1), (1, 2)]    # from the events
    assert len(source.problems) == 1 and "damaged" in source.problems[0]
    assert source.events(START, 1000).num_rows == source.rec.events(derive=False).num_rows >= 5
    seen = []

    async def explore(pilot, screen):
        await pilot.pause()
        seen.extend(n.message for n in pilot.app._notifications)
    drive(source, explore)
    assert any("damaged" in n for n in seen)
    events = sorted((folder / "events").glob("part-*.parquet"))[0]
    shutil.copy(story / "calls" / seg.name, seg)
    events.write_bytes(events.read_bytes()[:100])
    notes = []

    async def steps(pilot, screen):
        await pilot.pause()
        notes.extend(n.message for n in pilot.app._notifications)
    drive(RecordingSource.open(folder), steps)
    assert any("damaged" in n for n in notes)


def test_events_page_on_scrolling_with_filters(tmp_path):
    """Paging through every call event of one thread gives each exactly once, even
    with many events at the same nanosecond across a page boundary."""
    import numpy as np

    from scope import kinds
    from scope.tui import main as app_mod
    from scope.tui.panels import parse_search

    from .recording import write_calls_recording
    from .streams import flagged
    ev = [(START + 1000 + i // 7, 1 + i % 2, kinds.CALL if i % 4 < 2 else kinds.RETURN, 1, 0, 0, 0)
          for i in range(1000)]                    # 7 events per ns
    folder = write_calls_recording(tmp_path / "rec", flagged(ev), {1: ("f", "/f.py")})
    assert parse_search("kind:call tid:2 =f").tid == 2
    want = sum(1 for e in ev if e[1] == 2 and e[2] == kinds.CALL)
    seen = {}

    async def steps(pilot, screen):
        screen.query_one(Timeline).move_to(START)
        await pilot.press("3")
        await pilot.press("slash", *"kind:call tid:2")
        await pilot.pause()
        table = screen.query_one("#events-table")
        table.focus()
        for _ in range(50):
            table.move_cursor(row=table.row_count - 1)
            await pilot.pause()
        seen["rows"] = [(table.get_row_at(i)[0], table.get_row_at(i)[1]) for i in range(table.row_count)]
    old = app_mod.PAGE
    app_mod.PAGE = 40                            # pages much smaller than the data
    try:
        drive(RecordingSource.open(folder), steps)
    finally:
        app_mod.PAGE = old
    assert len(seen["rows"]) == want and {tid for _, tid in seen["rows"]} == {2}
    assert np.all(np.diff([float(t) for t, _ in seen["rows"]]) >= 0)


def test_an_empty_recording_opens_and_says_so(tmp_path):
    from .recording import write_recording
    folder = write_recording(tmp_path / "rec", [], {1: ("f", "/f.py")})
    seen = {}

    async def steps(pilot, screen):
        for key in ("s", "plus", "minus", "right", "2", "3", "4", "5", "6", "L", "question_mark", "escape"):
            await pilot.press(key)
        await pilot.pause()
        seen["notes"] = [n.message for n in pilot.app._notifications]
        seen["moment"] = str(screen.query_one("#moment-text").render())
    drive(RecordingSource.open(folder), steps)
    assert "no call running" in seen["moment"]
    assert any("no timed calls" in n for n in seen["notes"])


def test_the_mouse_moves_the_cursor_picks_a_thread_and_zooms(story):
    seen = {}

    async def steps(pilot, screen):
        from scope.tui.timeline import LABEL
        tl = screen.query_one(Timeline)
        rows = [lane for lane in screen.source.lanes()]
        worker_row = 2 + (len(tl._layout()[0][1]) + 1)          # the first row of the second lane
        await pilot.click("#timeline", offset=(LABEL + 30, worker_row))
        await pilot.pause()
        seen["lane"] = rows[tl.lane].tid
        seen["cursor"] = tl.time_at(LABEL + 30)
        seen["at"] = tl.cursor
        span = tl.hi - tl.lo
        await pilot.mouse_down("#timeline", offset=(LABEL + 30, 3))
        await pilot.pause()
        tl.on_mouse_scroll_up(type("E", (), {"x": LABEL + 30, "stop": lambda self=None: None})())
        await pilot.pause()
        seen["zoomed"] = (tl.hi - tl.lo) / span
    drive(RecordingSource.open(story), steps)
    assert seen["lane"] == 2 and seen["at"] == seen["cursor"]
    assert seen["zoomed"] == pytest.approx(0.5, abs=0.01)


def test_the_call_tree_of_the_span_at_the_cursor(story):
    seen = {}

    async def steps(pilot, screen):
        tl = screen.query_one(Timeline)
        tl.move_to(START + 200_000_000)                 # inside request#2
        await pilot.press("p")
        await pilot.pause()
        tree = screen.query_one("#call-tree")
        seen["label"] = str(tree.root.label)
        seen["roots"] = [n.data["function"] for n in tree.root.children]
        seen["kids"] = sorted(c.data["function"] for n in tree.root.children for c in n.children)
    drive(RecordingSource.open(story), steps)
    assert "calls in span request#2 (308 ms)" in seen["label"]
    assert sorted(seen["roots"]) == ["handle", "request#2"] and seen["kids"] == ["parse", "query_db"]


def test_the_first_view_frames_the_recorded_activity(tmp_path):
    """A short program in a long recording: the first view spans its calls (a 5 %
    margin), not the whole recording."""
    from scope import kinds

    from .recording import START, write_calls_recording
    from .streams import to_records
    ms = 1_000_000
    events = [(START + 500 * ms, 1, kinds.CALL, 1), (START + 560 * ms, 1, kinds.RETURN, 1)]
    folder = write_calls_recording(tmp_path / "rec", to_records(events), {1: ("main", "/m.py")},
                                   stop=START + 5000 * ms)
    source = RecordingSource.open(folder)
    assert source.activity() == (START + 500 * ms, START + 560 * ms)
    seen = {}

    async def steps(pilot, screen):
        tl = screen.query_one(Timeline)
        seen["view"] = (tl.lo, tl.hi, tl.cursor)
    drive(source, steps)
    assert seen["view"] == (START + 497 * ms, START + 563 * ms, START + 497 * ms)


def test_hostile_names_reach_no_screen_raw(tmp_path):
    """Names with an OSC title sequence, a screen clear, a C1 CSI and a newline
    (issue 16): on every tab the screen shows them escaped, never raw."""
    from scope import kinds

    from .recording import write_calls_recording
    from .streams import to_records
    ms = 1_000_000
    code = {1: ("\x1b]0;pwned\x07main", "/app/\x1b[2Jx.py"), 2: ("evil\x9b31m\nrow", "/app/y.py")}
    events = [(START + 1 * ms, 1, kinds.CALL, 1), (START + 2 * ms, 1, kinds.CALL, 2),
              (START + 8 * ms, 1, kinds.RETURN, 2), (START + 10 * ms, 1, kinds.RETURN, 1)]
    folder = write_calls_recording(tmp_path / "rec", to_records(events), code, stop=START + 12 * ms)
    shots = []

    async def steps(pilot, screen):
        await pilot.press("right", "right", "right")
        for key in ("1", "2", "3", "4", "5", "6", "7"):
            await pilot.press(key)
            await pilot.pause()
            shots.append(pilot.app.export_screenshot())
    drive(RecordingSource.open(folder), steps)
    for shot in shots:
        assert not any(ch in shot for ch in "\x1b\x07\x9b"), shot[:300]
    text = "".join(shots)
    assert "\\x1b]0;pwned\\x07main" in text or "\\x1b]0;pwned\\x07m" in text     # shown, escaped


def test_the_findings_tab_goes_to_the_evidence(tmp_path):
    """Findings [7] lists scope explain's findings, most severe first, names
    escaped; Enter puts the timeline on the first one's evidence (the handler
    call that made 100 fetch calls) and shows the moment there."""
    from scope.store.explain import explain

    from .test_explain import repeated
    rec = repeated(tmp_path, 100, name="\x1b]0;pwned\x07fetch")
    first = explain(rec).findings[0]
    assert first.detector == "repeated-work" and first.at
    seen = {}

    async def steps(pilot, screen):
        await pilot.press("7")
        await pilot.pause()
        seen["rows"] = screen.query_one("#findings-table").row_count
        seen["shot"] = pilot.app.export_screenshot()
        await pilot.press("enter")
        await pilot.pause()
        tl = screen.query_one(Timeline)
        seen["view"] = (tl.lo, tl.hi, tl.cursor)
        seen["tab"] = screen.query_one("#tabs").active
    drive(RecordingSource.open(rec.folder), steps)
    lo, hi, cursor = seen["view"]
    at = first.at
    assert lo <= at["start_ns"] and hi >= at["end_ns"] and at["start_ns"] <= cursor <= at["end_ns"]
    assert hi - lo < 2 * (at["end_ns"] - at["start_ns"])          # zoomed to it, not the whole recording
    assert seen["tab"] == "moment" and seen["rows"] >= 1
    assert "\x1b" not in seen["shot"] and "\x07" not in seen["shot"] and "pwned" in seen["shot"]
