"""The TUI's pure parts: block layout, the time axis, the moment panel's text
(names are data: Rich markup in a function name must not style the screen)."""
import pyarrow as pa
from rich.text import Text

from scope.store import travel
from scope.tui.datasource import Block
from scope.tui.panels import moment_text
from scope.tui.sourceview import source_text
from scope.tui.timeline import axis, color_of, layout_lane, tick_step
from scope.units import short_ns as human_ns


def block(cid, start, end, depth, name="f"):
    return Block(cid, start, end, depth, name, "/a.py", "complete", "call")


def test_blocks_nest_by_depth_and_get_at_least_a_cell():
    rows = layout_lane([block(1, 0, 1000, 0, "main"), block(2, 100, 600, 1, "work"), block(3, 700, 701, 1, "tiny")],
                       0, 1000, 10)
    assert [(c0, c1, b.name) for c0, c1, b in rows[0]] == [(0, 10, "main")]
    assert [(c0, c1, b.name) for c0, c1, b in rows[1]] == [(1, 6, "work"), (7, 8, "tiny")]
    assert len(rows) == 2                      # a lane is as deep as its calls


def test_blocks_never_overlap_and_unknown_depth_goes_on_top():
    rows = layout_lane([block(1, 0, 500, 0, "a"), block(2, 450, 1000, 0, "b"),
                        block(3, 0, 1000, None, "_bootstrap")], 0, 1000, 10)
    assert [b.name for _, _, b in rows[0]] == ["_bootstrap"]
    cells = [(c0, c1) for c0, c1, _ in rows[1]]
    assert cells == [(0, 4), (4, 10)]          # b is longer: it keeps the cell they share
    assert layout_lane([block(1, -50, 5000, 0)], 0, 1000, 10)[0][0][:2] == (0, 10)   # clipped to the view


def test_axis_ticks_in_real_units():
    assert tick_step(10**9, 120) == 100_000_000
    line = axis(0, 10**9, 120, 0).plain
    assert "100 ms" in line and "500 ms" in line and len(line) == 120
    assert human_ns(1_500) == "1.5 µs" and human_ns(2.5e9) == "2.5 s"
    assert color_of("handle") == color_of("handle")


def test_markup_in_names_and_values_is_shown_as_text():
    table = pa.Table.from_pylist([
        {"section": "stack", "pid": 1, "tid": 2, "level": 0, "name": "[bold red]evil[/]", "file": "/x.py",
         "line": 3, "since_s": 0.0, "elapsed_ns": 10, "call_id": 1, "status": "open", "value": None},
        {"section": "state", "pid": 1, "tid": 2, "level": None, "name": "cfg", "file": None, "line": None,
         "since_s": 0.0, "elapsed_ns": 5, "call_id": None, "status": None, "value": "[link=x]v[/link]"},
    ], schema=travel.SCHEMA)
    text = moment_text(table, 100, 0, {(1, "cfg"): "old"})
    assert isinstance(text, Text)
    assert "[bold red]evil[/]" in text.plain and "[link=x]v[/link]" in text.plain and "(was old)" in text.plain
    assert not any("red" in str(span.style) for span in text.spans)


def test_source_view_reads_the_file_as_text(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("\n".join(f"line{i}" for i in range(1, 50)))
    text = source_text({"name": "f", "file": str(src), "line": 20}).plain
    assert "▶   20  line20" in text and "line10" in text
    assert "cannot read" in source_text({"name": "f", "file": str(tmp_path / "gone.py"), "line": 1}).plain
    assert "frozen" in source_text({"name": "f", "file": "<frozen os>", "line": 1}).plain


def test_flame_graph_aggregates_stacks_and_lays_them_out():
    from scope.tui.flame import aggregate, icicle
    calls = pa.table({"call_id": [1, 2, 3, 4, 5, 6], "parent_id": [None, 1, 1, 3, None, 5],
                      "pid": [1] * 6, "code_id": [1, 2, 2, 3, 1, 2],
                      "duration_ns": [100, 30, 50, 20, 60, 60],
                      "function": ["main", "work", "work", "leaf", "main", "work"]})
    root = aggregate(calls)
    assert root.total == 160 and [(c.name, c.total) for c in root.children] == [("main", 160)]
    work = root.children[0].children
    assert [(c.name, c.total) for c in work] == [("work", 140)]          # 30 + 50 + 60, one stack
    assert [(c.name, c.total) for c in work[0].children] == [("leaf", 20)]
    rows = icicle(root, 16)
    assert [(c0, c1, n.name) for c0, c1, n in rows[0]] == [(0, 16, "main")]
    assert [(c0, c1, n.name) for c0, c1, n in rows[1]] == [(0, 14, "work")]
    assert [(c0, c1, n.name) for c0, c1, n in rows[2]] == [(0, 2, "leaf")]


def test_lanes_get_gc_pauses_and_marks_and_the_minimap_its_density(tmp_path):
    from scope.tui.datasource import RecordingSource

    from .recording import START, write_story
    src = RecordingSource.open(write_story(tmp_path / "rec"))
    marks = src.marks(START, START + 10**9)
    assert (START + 120_000_000, START + 120_000_000, "mark") in marks[(1, 1)]
    assert (START + 200_000_000, START + 230_000_000, "gc") in marks[(1, 2)]
    dens = src.density(20)
    assert len(dens) == 20 and sum(dens) > 0


def test_an_empty_moment_says_why():
    """Before the shim turned capture on: when it begins; calls without entries
    (CPython 3.11's markers): that stacks cannot be known; else nothing runs."""
    import pyarrow as pa

    from scope.store.travel import SCHEMA
    empty = pa.Table.from_pylist([], schema=SCHEMA)
    early = moment_text(empty, 100, 0, capture_from=2_000_000).plain
    assert "call capture begins at 2 ms, when the shim turned it on" in early
    assert "no call running" in moment_text(empty, 3_000_000, 0, capture_from=2_000_000).plain
    assert "3.11's markers report no entries" in moment_text(empty, 100, 0, entries_unseen=True).plain
