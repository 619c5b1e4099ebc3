"""Every output of a recording whose names attack what shows them (issue 30,
finding 6): a screen clear, a DSR (``ESC[6n``: the terminal types a reply), an
OSC title, U+FFFF/U+FFFE (XML cannot hold them), a NUL, a C1 CSI with a
right-to-left override, a ';' and a newline (the folded format's frame and
stack separators). Each listing and export is free of raw control bytes, the
SVG and the report are well-formed XML, the folded stacks keep their shape,
`store verify` shows a crafted struct field name escaped. Positive controls:
the names are stored raw, and with the escaping function taken out each
attack does get through."""
from __future__ import annotations

import html.parser
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scope.cli import main
from scope.store.exports import EXPORTERS
from scope.store.exports import folded as folded_module
from scope.store.exports import svg as svg_module
from scope.store.exports.calls import Call
from scope.store.reader import open_recording
from scope.text import shown, xml_text

from .recording import START, write_recording
from .streams import tree_events

HOSTILE = {2: "clear\x1b[2J\x1b[H", 3: "dsr\x1b[6n", 4: "title\x1b]0;pwned\x07", 5: "nonchar\uffff\ufffe",
           6: "semi;colon", 7: "new\nline 99", 8: "nul\x00byte", 9: "c1\x9b6n\u202eevil"}
FILES = {2: "/app/f\x1b]52;c;ZXZpbA==\x07.py", 6: "/app/a;b.py", 7: "/app/new\nline.py"}
# bytes a terminal acts on, as they would appear in UTF-8 output
RAW = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]|\xef\xbf[\xbe\xbf]")
# calls: outer (1) calls each hostile function twice; 4 calls 6 and 7 in it (hostile under hostile)
SHAPE = [(1, [(code, [(6, []), (7, [])] if code == 4 else []) for code in HOSTILE] * 2)]
FLAMEGRAPH_LINE = re.compile(r"^(.*)\s+?(\d+(?:\.\d*)?)$")      # how flamegraph.pl reads a folded line


def _write(folder: Path, names: dict[int, str], files: dict[int, str]) -> Path:
    _, _, events = tree_events(SHAPE, tid=1, t0=START + 100)
    code = {1: ("outer", "/app/main.py")} | {c: (n, files.get(c, "/app/x.py")) for c, n in names.items()}
    return write_recording(folder, events, code)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("hostile") / "rec", HOSTILE, FILES)


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> Path:
    """The same calls with plain names: the shape the hostile one must keep."""
    return _write(tmp_path_factory.mktemp("twin") / "rec", {c: f"plain{c}" for c in HOSTILE},
                  {c: f"/app/plain{c}.py" for c in FILES})


def _run(capsysbinary, *argv) -> tuple[int, bytes]:
    code = main([str(a) for a in argv])
    out = capsysbinary.readouterr()
    return code, out.out + out.err


def test_positive_control_the_names_are_stored_raw(hostile):
    code = pq.read_table(hostile / "code.parquet").to_pydict()
    stored = dict(zip(code["code_id"], code["function"]))
    assert {c: stored[c] for c in HOSTILE} == HOSTILE
    assert all(RAW.search(n.encode()) for c, n in HOSTILE.items() if c not in (6, 7))
    assert ";" in HOSTILE[6] and "\n" in HOSTILE[7]       # what folded and tables split on
    assert "\x1b]52;c;" in "".join(code["file"])


LISTINGS = [["query", "{d}"], ["query", "{d}", "--calls"], ["query", "{d}", "--top"],
            ["query", "{d}", "--top", "--exact"], ["query", "{d}", "--slowest", "5"],
            ["query", "{d}", "--at", "0.00000015"], ["query", "{d}", "--around", "3"],
            ["query", "{d}", "--calls", "--format", "csv"], ["query", "{d}", "--top", "--format", "json"],
            ["query", "{d}", "--sql", "select function, file from code"], ["stats", "{d}"],
            ["stats", "{d}", "--format", "json"], ["explain", "{d}"], ["explain", "{d}", "--format", "markdown"],
            ["explain", "{d}", "--format", "json"], ["diff", "{d}", "{d}"], ["store", "verify", "{d}"],
            ["store", "ls", "{d}"]]


@pytest.mark.parametrize("argv", LISTINGS, ids=[" ".join(a[:1] + a[2:]) for a in LISTINGS])
def test_no_listing_prints_a_raw_control_byte(argv, hostile, capsysbinary, monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    code, out = _run(capsysbinary, *[a.format(d=hostile) for a in argv])
    assert code == 0, out
    crlf_free = out.replace(b"\r\n", b"\n")          # CSV ends its rows with \r\n
    assert not RAW.search(crlf_free), RAW.search(crlf_free)
    assert b"Traceback" not in out and b"internal error" not in out
    assert not re.search(rb"(^|\n)line 99", out)          # no row forged by the newline
    if argv[0] == "query" and "--sql" in argv:      # the escapes are there, visible
        assert shown(HOSTILE[3]).encode() in out and shown(HOSTILE[5]).encode() in out


@pytest.mark.parametrize("fmt", list(EXPORTERS))
def test_no_export_holds_a_raw_control_character(fmt, hostile, capsysbinary):
    """Each format to standard output (`-o -`, as the issue found folded printing
    a screen clear and a DSR to the terminal)."""
    code, out = _run(capsysbinary, "export", hostile, "--format", fmt, "-o", "-")
    assert code == 0, out
    if fmt == "perfetto":       # binary: its strings, read back by Perfetto's own classes
        pb = pytest.importorskip("perfetto.protos.perfetto.trace.perfetto_trace_pb2")
        trace = pb.Trace()
        trace.ParseFromString(out)
        texts = [n.name for p in trace.packet for n in p.interned_data.event_names]
        texts += [s.file_name for p in trace.packet for s in p.interned_data.source_locations]
        assert set(texts) >= {shown(n) for n in HOSTILE.values()}
        assert not any(RAW.search(t.encode()) for t in texts)
        return
    assert not RAW.search(out), RAW.search(out)
    if fmt in ("chrome", "speedscope"):             # JSON keeps the exact text, in JSON's escapes
        assert "\\u001b[6n" in out.decode()


def _folded_stacks(text: str) -> list[tuple[int, int]]:
    """(frames, count) of each line, read as flamegraph.pl reads it."""
    out = []
    for line in text.splitlines():
        m = FLAMEGRAPH_LINE.match(line)
        assert m, line
        out.append((len(m.group(1).split(";")), int(m.group(2))))
    return sorted(out)


def test_folded_stacks_keep_their_shape(hostile, twin, monkeypatch):
    """As many lines, frames and the same counts as the same calls with plain
    names; each hostile name its own frame, escaped."""
    got = folded_module.folded(open_recording(hostile))
    assert _folded_stacks(got) == _folded_stacks(folded_module.folded(open_recording(twin)))
    assert len(got.splitlines()) == 1 + len(HOSTILE) + 2          # outer; each; 4's two children
    assert "outer (/app/main.py:1);title\\x1b]0:pwned\\x07 (/app/x.py:1);new\\nline 99 " \
           "(/app/new\\nline.py:1) " in got
    # positive control: without shown, a newline splits a stack and the escapes go out raw
    monkeypatch.setattr(folded_module, "shown", lambda text: text)
    raw = folded_module.folded(open_recording(hostile))
    assert RAW.search(raw.encode()) and len(raw.splitlines()) > len(got.splitlines())


def _svg_names(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.get("data-name") for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("data-name")]


def test_the_flame_graph_is_well_formed_xml(hostile, monkeypatch):
    rec = open_recording(hostile)
    names = _svg_names(svg_module.flamegraph_svg(rec))
    assert set(names) >= {shown(n) for n in HOSTILE.values()}      # each visible, as text
    # positive control: the guard taken out (markup escaped, nothing else), ESC and U+FFFF make it ill-formed
    monkeypatch.setattr(svg_module, "shown", lambda text: text)
    monkeypatch.setattr(svg_module, "xml_text", escape)
    with pytest.raises(ET.ParseError):
        ET.fromstring(svg_module.flamegraph_svg(rec))


def test_xml_text_holds_what_no_recording_can():
    """A lone surrogate cannot reach a recording (Arrow strings are UTF-8: the
    positive control), but the XML function and the terminal's cope with one."""
    with pytest.raises(UnicodeEncodeError):
        pa.array(["lone\ud800"])
    name = "lone\ud800 & <b>\x00\x0b\ufffe'\""
    calls = [Call(1, None, 1, 1, "main", "/a.py", 1, 0, 100), Call(2, 1, 1, 1, name, "/a.py", 2, 10, 60)]
    svg = svg_module.render(svg_module.stack_tree(calls), name)
    assert _svg_names(svg)[-1] == shown(name) == "lone\\ud800 & <b>\\x00\\x0b\\ufffe'\""
    assert shown(name).encode("utf-8")          # printable: no UnicodeEncodeError on a terminal
    assert xml_text("\ud800\uffff") == "\\ud800\\uffff"
    with pytest.raises(ET.ParseError):          # the control: the raw text breaks the parser
        ET.fromstring(f"<t>{escape(name.replace(chr(0xd800), ''))}</t>")


class _Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self._in = [], False

    def handle_starttag(self, tag, attrs):
        self._in = tag == "td"

    def handle_data(self, data):
        if self._in:
            self.cells.append(data)


def test_the_report_is_well_formed(hostile, tmp_path, capsysbinary, monkeypatch):
    out = tmp_path / "r.html"
    code, said = _run(capsysbinary, "report", hostile, "-o", out)
    assert code == 0, said
    page = out.read_text()
    assert not RAW.search(page.encode())
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):       # the flame graph and the timeline
        ET.fromstring(svg)
    cells = _Cells()
    cells.feed(page)
    assert shown(HOSTILE[4]) in cells.cells and shown(HOSTILE[5]) in cells.cells
    # positive control: HTML-escaped only (no control characters shown), the escapes go out raw
    from scope.store import report
    monkeypatch.setattr(report, "xml_text", escape)
    assert RAW.search(report.render_report(open_recording(hostile)).encode())


def test_verify_shows_a_crafted_struct_field_name_escaped(hostile, tmp_path, capsysbinary):
    import shutil
    d = tmp_path / "rec"
    shutil.copytree(hostile, d)
    t = pq.read_table(d / "code.parquet")
    field = "x\x1b]0;pwned\x07\x1b[6n"
    crafted = pa.array([{field: 1}] * len(t))
    pq.write_table(t.set_column(t.schema.get_field_index("file"), "file", crafted), d / "code.parquet")
    # positive control: the file holds the name raw, and what verify found says it raw
    assert pq.read_schema(d / "code.parquet").field("file").type.field(0).name == field
    from scope.store.verify import verify
    assert field in dict(verify(d).damaged)["code.parquet"]
    code, out = _run(capsysbinary, "store", "verify", d)
    assert code == 1 and not RAW.search(out), out
    assert b"damaged   code.parquet: column file holds struct<x\\x1b]0;pwned\\x07\\x1b[6n: int64>" in out


def test_text_that_is_not_utf8_is_refused_in_one_line(hostile, tmp_path, capsysbinary):
    """What a recording can hold in place of a lone surrogate: its UTF-8-like
    bytes (0xed 0xa0 0x80) in a string column. Every command refuses the file in
    one line, `store verify` calls it damaged. The positive control: pyarrow
    reads the file, and turning the column into Python text fails."""
    import shutil
    d = tmp_path / "rec"
    shutil.copytree(hostile, d)
    t = pq.read_table(d / "code.parquet")
    raw = [None if v is None else v.encode() for v in t["function"].to_pylist()]
    raw[1] = b"lone\xed\xa0\x80surrogate"
    as_bytes = pa.array(raw, pa.binary())
    bad = pa.Array.from_buffers(pa.string(), len(as_bytes), as_bytes.buffers(), null_count=as_bytes.null_count)
    pq.write_table(t.set_column(t.schema.get_field_index("function"), "function", bad), d / "code.parquet")
    with pytest.raises(UnicodeDecodeError):
        pq.read_table(d / "code.parquet")["function"].to_pylist()
    for argv in (["query", d, "--calls", "--function", "lone*"], ["query", d, "--top"],
                 ["export", d, "-o", tmp_path / "x.svg"], ["store", "verify", d]):
        code, out = _run(capsysbinary, *argv)
        assert code == 1 and b"internal error" not in out and b"Traceback" not in out, out
        assert b"column function holds text that is not UTF-8" in out, out
