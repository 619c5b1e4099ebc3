"""The flame graph scope draws (`scope export DIR`, an SVG by default), opened
in a real browser (Debian's chromium, headless): it loads without a console
error, a click zooms a box to the full width, a search finds a function and
says its share, which is the recording's own number."""
from __future__ import annotations

import html as html_lib
import json
import os
import re
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from .conftest import PYTHON, TARGETS, run_scope
from .test_run import KNOWN

NS = "{http://www.w3.org/2000/svg}"

# appended to a copy of the SVG: clicks the box of `middle`, searches for `leaf`
# (the browser's prompt answered here) and writes what it saw into the document
HARNESS = """<script type="text/ecmascript"><![CDATA[
window.addEventListener("load", function () {
  var out = [];
  try {
    var gs = document.getElementById("frames").getElementsByTagName("g"), target = null;
    for (var i = 0; i < gs.length; i++) {
      if (gs[i].getElementsByTagName("text")[0].getAttribute("data-name") === "middle") { target = gs[i]; break; }
    }
    out.push("before=" + target.getAttribute("data-w"));
    target.dispatchEvent(new MouseEvent("click", {bubbles: true}));
    out.push("zoomed=" + target.getElementsByTagName("rect")[0].getAttribute("width"));
    var hidden = 0;
    for (var j = 0; j < gs.length; j++) { if (gs[j].getAttribute("class") === "hide") { hidden++; } }
    out.push("hidden=" + hidden);
    window.prompt = function () { return "^leaf$"; };
    document.getElementById("search").dispatchEvent(new MouseEvent("click", {bubbles: true}));
    out.push("matched=" + document.getElementById("matched").textContent);
    document.getElementById("unzoom").dispatchEvent(new MouseEvent("click", {bubbles: true}));
    out.push("unzoomed=" + target.getElementsByTagName("rect")[0].getAttribute("width"));
  } catch (e) { out.push("error=" + e); }
  var t = document.createElementNS("http://www.w3.org/2000/svg", "text");
  t.setAttribute("id", "test-result");
  t.textContent = out.join(";");
  document.documentElement.appendChild(t);
});
]]></script>
</svg>"""


def test_the_flame_graph_works_in_a_browser(tmp_path):
    out = tmp_path / "rec"
    assert run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "known_calls.py")).returncode == 3
    svg_path = tmp_path / "known.svg"
    res = run_scope("export", str(out), "-o", str(svg_path))      # svg: the default
    assert res.returncode == 0, res.stderr
    svg = svg_path.read_text()
    doc = ET.fromstring(svg)
    boxes = {}
    for g in doc.iter(f"{NS}g"):
        text = g.find(f"{NS}text")
        if text is not None:
            boxes.setdefault(text.get("data-name"), []).append((int(g.get("data-depth")), int(g.get("data-ns")),
                                                                float(g.find(f"{NS}rect").get("width"))))
    (root,) = boxes["all"]
    assert all(w < 1200 / 2 for _, _, w in boxes["middle"])          # narrower than half: a zoom shows
    leaf_share = 100 * sum(ns for _, ns, _ in boxes["leaf"]) / root[1]
    page = tmp_path / "page.svg"
    page.write_text(svg.replace("</svg>\n", HARNESS + "\n"))
    browser = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                              "--v=0", "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60,
                             check=False)
    assert browser.returncode == 0, browser.stderr[-2000:]
    console = [line for line in browser.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    result = re.search(r'<text id="test-result">([^<]*)</text>', browser.stdout)
    assert result, browser.stdout[-2000:]
    seen = dict(part.split("=", 1) for part in result.group(1).split(";"))
    assert "error" not in seen, seen
    assert float(seen["zoomed"]) == 1200 and int(seen["hidden"]) > 0      # zoomed: the box fills the width
    assert seen["matched"] == f"Matched: {leaf_share:.1f}%"
    assert float(seen["before"]) in [w for _, _, w in boxes["middle"]]
    assert abs(float(seen["unzoomed"]) - float(seen["before"])) < 0.01     # and back


SCREENSHOT = Path(__file__).parent / "screenshots" / "report.png"


def chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", *args], capture_output=True, text=True, timeout=120, check=False)


def test_the_report_shows_the_recordings_own_numbers_in_a_browser(tmp_path):
    """`scope report`: one HTML file, opened offline in headless Chromium with no
    console message; its tables, flame graph and timeline hold the numbers
    `scope query` and `scope stats` give. A screenshot of it is kept with the
    tests (tests/integration/screenshots/report.png; SCOPE_UPDATE_SCREENSHOTS=1
    writes it again)."""
    out = tmp_path / "rec"
    assert run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "known_calls.py")).returncode == 3
    page = tmp_path / "report.html"
    res = run_scope("report", str(out), "-o", str(page))
    assert res.returncode == 0, res.stderr
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html  # offline
    browser = chromium("--dump-dom", page.as_uri())
    assert browser.returncode == 0, browser.stderr[-2000:]
    assert [line for line in browser.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line] == []
    dom = browser.stdout          # HTML, not XML: read with regular expressions
    meta = json.loads((out / "session.json").read_text())
    calls = meta["counts"]["calls"]
    assert f"<th>calls</th><td>{', '.join(f'{n:,} {s}' for s, n in sorted(calls.items()))}</td>" in dom
    # the top table: each function's calls, as query --top says
    top = json.loads(run_scope("query", str(out), "--top", "--format", "json", "--limit", "25").stdout)
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td class=\"num\">([\d,]+)</td>", dom)
    shown = [(html_lib.unescape(f), int(n.replace(",", ""))) for f, _, n in rows]
    assert shown[:25] == [(r["function"], r["calls"]) for r in top]
    assert ("leaf", KNOWN["leaf"]) in shown
    # the flame graph ran its script: labels drawn for the wide boxes
    assert re.search(r'data-name="main">main</text>', dom)
    # the timeline: exactly the slowest calls
    slowest = json.loads(run_scope("query", str(out), "--slowest", "40", "--format", "json").stdout)
    drawn = [int(c) for c in re.findall(r'class="call" data-call="(\d+)"', dom)]
    assert sorted(drawn) == sorted(r["call_id"] for r in slowest if r["start_s"] is not None)
    gc = json.loads(run_scope("stats", str(out), "--format", "json").stdout)["gc"]
    assert re.search(rf'<p id="gc-summary">{gc["count"]:,} collections', dom)
    shot = tmp_path / "report.png"
    taken = chromium(f"--screenshot={shot}", "--window-size=1280,1800", page.as_uri())
    assert taken.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])
    assert (width, height) == (1280, 1800)
    if os.environ.get("SCOPE_UPDATE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(shot.read_bytes())
    assert SCREENSHOT.exists(), "SCOPE_UPDATE_SCREENSHOTS=1 writes the kept screenshot"
