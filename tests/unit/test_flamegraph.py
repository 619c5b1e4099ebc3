"""The SVG flame graph (store/exports/svg.py): well formed, boxes as wide as
their time, callers under callees, names only ever text."""
import xml.etree.ElementTree as ET

from scope.store.exports.calls import Call, placed_calls
from scope.store.exports.svg import FRAME, WIDTH, render, stack_tree
from scope.store.reader import open_recording

from .recording import write_story

NS = "{http://www.w3.org/2000/svg}"


def boxes(svg: str) -> list[dict]:
    root = ET.fromstring(svg)
    out = []
    for g in root.iter(f"{NS}g"):
        rect, text = g.find(f"{NS}rect"), g.find(f"{NS}text")
        if rect is None:
            continue
        out.append({"name": text.get("data-name"), "title": g.find(f"{NS}title").text, "ns": int(g.get("data-ns")),
                    "depth": int(g.get("data-depth")), "x": float(rect.get("x")), "w": float(rect.get("width")),
                    "y": float(rect.get("y"))})
    return out


def test_boxes_are_as_wide_as_their_time(tmp_path):
    rec = open_recording(write_story(tmp_path / "rec"))
    svg = render(stack_tree(placed_calls(rec)), "story")
    got = boxes(svg)
    root = next(b for b in got if b["depth"] == 0)
    assert root["name"] == "all" and abs(root["w"] - WIDTH) < 0.01
    handle = [b for b in got if b["name"] == "handle"]
    assert len(handle) == 1 and handle[0]["ns"] == 364_000_000 and handle[0]["depth"] == 2
    assert abs(handle[0]["w"] - 364_000_000 / root["ns"] * WIDTH) < 0.01
    assert "handle (/app/web.py:1) — 364 ms" in handle[0]["title"]
    for b in got:                      # callers below callees, children inside their parent
        assert b["y"] == got[0]["y"] - b["depth"] * FRAME + got[0]["depth"] * FRAME
        kids = [k for k in got if k["depth"] == b["depth"] + 1 and b["x"] - 0.01 <= k["x"] <= b["x"] + b["w"]]
        assert sum(k["w"] for k in kids) <= b["w"] + 0.05


def test_names_are_only_text():
    hostile = '</text><script>alert(1)</script>&\x1b]0;x\x07'
    calls = [Call(1, None, 1, 1, "main", "/a.py", 1, 0, 100), Call(2, 1, 1, 1, hostile, "/a.py", 5, 10, 60)]
    svg = render(stack_tree(calls), hostile)
    doc = ET.fromstring(svg)
    assert len(list(doc.iter(f"{NS}script"))) == 1          # scope's own, nothing else
    names = [b["name"] for b in boxes(svg)]
    assert names == ["all", "main", '</text><script>alert(1)</script>&\\x1b]0;x\\x07']
    assert "\x1b" not in svg and "\x07" not in svg


def test_deep_recursion_is_drawn_without_recursing():
    calls = [Call(i, i - 1 if i else None, 1, 1, "recurse", "/r.py", 3, i, 10_000 - i) for i in range(5000)]
    got = boxes(render(stack_tree(calls), "deep"))
    assert max(b["depth"] for b in got) == 5000


def test_the_report_runs_only_scopes_scripts(tmp_path):
    """A recording whose names try markup and script: the page shows them as text."""
    from scope.store.report import render_report
    rec = open_recording(write_story(tmp_path / "rec"))
    page = render_report(rec)
    assert page.count("<script") == 2                     # the flame graph's and the page's
    assert "[bold red]spoof[/]" in page and "<bold" not in page
    assert "\x1b" not in page and "\x07" not in page
