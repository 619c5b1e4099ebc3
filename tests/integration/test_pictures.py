"""The flame graph scope draws (`scope export DIR`, an SVG by default), opened
in a real browser (Debian's chromium, headless): it loads without a console
error, a click zooms a box to the full width, a search finds a function and
says its share, which is the recording's own number."""
from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET

from .conftest import PYTHON, TARGETS, run_scope

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
