"""Strings from a target or a recording, shown safely (scope/text.py): every
control character a terminal acts on becomes a visible escape; JSON keeps the
exact text with JSON's own escapes."""
from __future__ import annotations

import io
import json

import pyarrow as pa

from scope.commands.output import write_table
from scope.text import json_safe, shown

HOSTILE = ["title\x1b]0;PWNED\x07", "clip\x1b]52;c;ZXZpbA==\x07", "clear\x1b[2J\nforged row",
           "c1\x9b31m\u202eevil", "tab\there\r", "del\x7f", "sep\u2028\u2066x\u2069"]
RAW = set("\x1b\x07\n\r\t\x7f\x9b\u202e\u2028\u2066\u2069")


def test_shown_escapes_every_control_character_and_keeps_the_rest():
    assert shown("plain função_ñandú 名字") == "plain função_ñandú 名字"
    assert shown(HOSTILE[0]) == "title\\x1b]0;PWNED\\x07"
    assert shown(HOSTILE[2]) == "clear\\x1b[2J\\nforged row"
    assert shown(HOSTILE[3]) == "c1\\x9b31m\\u202eevil"
    assert shown(HOSTILE[4]) == "tab\\there\\r"
    for text in HOSTILE:
        assert not RAW & set(shown(text)), text


def test_json_keeps_the_exact_text_in_escapes_a_terminal_does_not_act_on():
    encoded = json_safe(json.dumps(HOSTILE, ensure_ascii=False))
    assert not RAW & set(encoded)
    assert json.loads(encoded) == HOSTILE          # the same value


def _written(fmt: str) -> str:
    table = pa.table({"function": HOSTILE, "calls": list(range(len(HOSTILE))),
                      "bad\x1b[31mcolumn": HOSTILE})
    out = io.StringIO()
    write_table(table, fmt, out)
    return out.getvalue()


def test_no_format_lets_a_control_character_through():
    for fmt in ("table", "csv", "json"):
        text = _written(fmt)
        assert not (RAW - {"\n", "\r"}) & set(text), fmt
        # newlines only end rows: one per row and the header (json: one array, one line)
        assert text.count("\n") == (1 if fmt == "json" else len(HOSTILE) + 1), fmt
    assert "title\\x1b]0;PWNED\\x07" in _written("table")
    assert json.loads(_written("json"))[2]["function"] == HOSTILE[2]


def test_huge_and_undecodable_names():
    """A 1 MB name with an escape at its end, and a name that is not UTF-8 (the
    collector decodes target bytes with backslash escapes: collector/names.py)."""
    from scope.collector.names import _text
    big = "x" * (1 << 20) + "\x1b]0;PWNED\x07"
    assert shown(big).endswith("\\x1b]0;PWNED\\x07") and len(shown(big)) == (1 << 20) + 16
    undecodable = _text(b"f\xff\xfe\x1b[2J\0after the end")
    assert undecodable == "f\\xff\\xfe\x1b[2J"            # kept visible, cut at the NUL
    assert shown(undecodable) == "f\\xff\\xfe\\x1b[2J"       # the ESC escaped like the bytes before it
    table = pa.table({"function": [big, undecodable], "calls": [1, 2]})
    for fmt in ("table", "csv", "json"):
        out = io.StringIO()
        write_table(table, fmt, out)
        assert not (RAW - {"\n", "\r"}) & set(out.getvalue()), fmt     # csv ends rows with \\r\\n
