"""Text from a target or a recording, made safe to show.

A target chooses its function and file names, its payloads, its program's
path; a recording file can hold anything. Shown raw, an escape sequence in a
name drives the user's terminal: sets its title, writes its clipboard (OSC 52),
clears the screen, asks the terminal to type a reply (DSR, ``ESC[6n``); a
newline forges a table row; bidirectional overrides make text read otherwise
than it is. Each place a string is shown has one function here, and every
writer uses it:

* a terminal, a table, CSV, markdown, folded stacks: ``shown`` — C0 and C1
  control characters, DEL, the Unicode line separators and bidirectional
  controls, lone surrogates and the non-characters U+FFFE/U+FFFF become
  visible escapes (``\\x1b``, ``\\n``, ``\\u202e``, ``\\udc80``, ``\\uffff``),
  everything else is left as it is;
* XML and HTML (the SVG flame graph, the report): ``xml_text`` — ``shown``,
  then any character XML 1.0 cannot hold at all replaced with U+FFFD, and
  ``& < > " '`` escaped, for element text and quoted attributes alike;
* JSON keeps the exact text, written with JSON's own escapes for the same
  characters (``json_safe``).
"""
from __future__ import annotations

import re

# C0, DEL, C1; line and paragraph separators; bidirectional marks, embeddings,
# overrides and isolates; lone surrogates (no encoding can write them: printed,
# they would end the command with UnicodeEncodeError) and U+FFFE/U+FFFF (XML
# cannot hold them)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069"
                     "\ud800-\udfff\ufffe\uffff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# what XML 1.0 has no way to write, not even as a character reference: a
# document holding one is not well formed (a browser draws an error instead)
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})


def _escape(match: re.Match) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str) -> str:
    """``text`` with every control character as a visible escape."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def xml_text(text: str) -> str:
    """``text`` as XML or HTML element text or a quoted attribute's value:
    control characters shown escaped, what XML cannot hold replaced with
    U+FFFD, markup characters escaped. The document stays well formed and the
    text stays text, whatever ``text`` holds."""
    return _XML_ILLEGAL.sub("\ufffd", shown(text)).translate(_XML_ESCAPES)


def json_safe(encoded: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``) with the characters
    JSON leaves raw but a terminal acts on (C1, separators, bidi) as ``\\uXXXX``:
    the same JSON value, safe to print."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)
