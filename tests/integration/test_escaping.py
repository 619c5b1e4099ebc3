"""A target that names its code to attack the terminal (tests/targets/hostile_names.py):
recorded exactly, and shown by every command with its control characters
escaped — the names intact in JSON, never raw on the screen."""
from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET

import pyarrow.parquet as pq

from scope.text import shown

from .conftest import PYTHON, TARGETS, query_json, readable, run_scope, scope_cmd

NAMES = ["title\x1b]0;PWNED\x07", "clip\x1b]52;c;ZXZpbA==\x07", "clear\x1b[2J\nforged row",
         "c1\x9b31m\u202eevil"]
RAW = set("\x1b\x07\x9b\u202e")


def test_hostile_names_are_recorded_exactly_and_shown_escaped(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "hostile_names.py"))
    assert res.returncode == 0, res.stderr
    as_json = run_scope("query", "--parquet", str(out), "--top", "--file", "*file.py", "--format", "json")
    assert as_json.returncode == 0 and not RAW & set(as_json.stdout)
    rows = json.loads(as_json.stdout)
    # exact, intact (the exec'd source's own <module> too)
    assert {r["function"]: r["calls"] for r in rows} == {"<module>": 1, **{name: 3 for name in NAMES}}
    assert {r["file"] for r in rows} == {"/tmp/\x1b[2Jfile.py"}
    for args in (["query", "--parquet", str(out), "--top"], ["query", "--parquet", str(out), "--calls"],
                 ["query", "--parquet", str(out), "--top", "--format", "csv"], ["stats", "--parquet", str(out)],
                 ["query", "--parquet", str(out), "--sql", "select function, file from code"]):
        shown = run_scope(*args)
        assert shown.returncode == 0, (args, shown.stderr)
        assert not RAW & set(shown.stdout + shown.stderr), args
        assert "title\\x1b]0;PWNED\\x07" in shown.stdout or "stats" in args, args
    table = run_scope("query", "--parquet", str(out), "--top", "--file", "*file.py").stdout
    assert "clear\\x1b[2J\\nforged row" in table and "forged row" not in table.replace("\\nforged row", "")
    assert len(table.splitlines()) == 2 + len(NAMES)          # header, <module>, the four: no forged row


# issue 30, finding 6: the outputs the first test does not cover, against a target run as user nobody
OUTPUT_NAMES = ["clear\x1b[2J\x1b[H", "dsr\x1b[6n", "title\x1b]0;pwned\x07", "nonchar\uffff", "semi;colon",
                "new\nline 99", "c1\x9b6n"]
OUTPUT_FILE = "/tmp/dsr\x1b[6n;file.py"
# bytes a terminal acts on, and the non-character XML cannot hold, as they appear in UTF-8 output
RAW_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]|\xef\xbf[\xbe\xbf]")
FLAMEGRAPH_LINE = re.compile(r"^(.*)\s+?(\d+(?:\.\d*)?)$")      # how flamegraph.pl reads a folded line
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _scope_bytes(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(scope_cmd(*args), capture_output=True, timeout=120)


def test_every_output_of_hostile_names_is_escaped_and_well_formed(tmp_path):
    """`scope run` of a target (as nobody) whose names hold a screen clear, a DSR,
    an OSC title, U+FFFF, a ';' and a newline: the folded stacks (to standard
    output, as the issue found them), the other exports, the report, listings
    and `store verify` carry no raw control byte; the SVG and the report's
    pictures parse as XML; the folded lines parse as flamegraph.pl reads them,
    one stack per hostile function with its self time. The positive control:
    the names as stored, read with pyarrow, hold every attack raw."""
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", *NOBODY, PYTHON, str(readable("hostile_output_names.py")))
    assert res.returncode == 0, res.stderr
    stored = {n for p in out.rglob("*.parquet") if p.parent.name == "code" or p.name == "code.parquet"
              for n in pq.read_table(p, columns=["function", "file"]).to_pydict()["function"]}
    assert set(OUTPUT_NAMES) <= stored                                     # the control: raw in the store
    assert all(RAW_BYTES.search(n.encode()) for n in OUTPUT_NAMES if ";" not in n and "\n" not in n)
    calls = [c for c in query_json(out, "--calls") if c["function"] in OUTPUT_NAMES]
    assert {c["function"]: c["file"] for c in calls} == {n: OUTPUT_FILE for n in OUTPUT_NAMES}

    folded = _scope_bytes("export", str(out), "--format", "folded", "-o", "-")
    assert folded.returncode == 0 and not RAW_BYTES.search(folded.stdout), folded.stderr
    lines = folded.stdout.decode().splitlines()
    assert all(FLAMEGRAPH_LINE.match(line) for line in lines) and not any(ln.startswith("line 99") for ln in lines)
    for name in OUTPUT_NAMES:
        frame = shown(name).replace(";", ":")
        (line,) = [ln for ln in lines if FLAMEGRAPH_LINE.match(ln).group(1).split(";")[-1].startswith(frame + " (")]
        mine = [c for c in calls if c["function"] == name]
        assert int(FLAMEGRAPH_LINE.match(line).group(2)) == sum(c["self_ns"] for c in mine), name
        assert len(line.split(";")) == mine[0]["depth"] + 1 == 3, line      # <module>;outer;name: no split
    svg = tmp_path / "x.svg"
    assert run_scope("export", str(out), "-o", str(svg)).returncode == 0
    names = {t.get("data-name") for t in ET.parse(svg).iter("{http://www.w3.org/2000/svg}text")}
    assert {shown(n) for n in OUTPUT_NAMES} <= names
    for fmt in ("chrome", "speedscope", "svg"):
        exported = _scope_bytes("export", str(out), "--format", fmt, "-o", "-")
        assert exported.returncode == 0 and not RAW_BYTES.search(exported.stdout), fmt
    page = tmp_path / "r.html"
    assert run_scope("report", str(out), "-o", str(page)).returncode == 0
    text = page.read_text()
    assert not RAW_BYTES.search(text.encode())
    for picture in re.findall(r"<svg.*?</svg>", text, re.S):
        ET.fromstring(picture)
    for args in (["query", str(out), "--calls"], ["query", str(out), "--top"], ["stats", str(out)],
                 ["query", str(out), "--format", "csv"], ["explain", str(out)], ["store", "verify", str(out)]):
        shown_out = _scope_bytes(*args)
        assert shown_out.returncode == 0, (args, shown_out.stderr)
        text = (shown_out.stdout + shown_out.stderr).replace(b"\r\n", b"\n")
        assert not RAW_BYTES.search(text), (args, RAW_BYTES.search(text))
