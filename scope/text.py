"""Text from a target or a recording, made safe to show.

A target chooses its function and file names, its payloads, its program's
path; a recording file can hold anything. Shown raw, an escape sequence in a
name drives the user's terminal: sets its title, writes its clipboard (OSC 52),
clears the screen; a newline forges a table row; bidirectional overrides make
text read otherwise than it is. Every such string is shown through ``shown``:
C0 and C1 control characters, DEL, and the Unicode line separators and
bidirectional controls become visible escapes (``\\x1b``, ``\\n``, ``\\u202e``),
everything else is left as it is. JSON output keeps the exact text, written
with JSON's own escapes for the same characters (``json_safe``).
"""
from __future__ import annotations

import re

# C0, DEL, C1; line and paragraph separators; bidirectional marks, embeddings,
# overrides and isolates
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str) -> str:
    """``text`` with every control character as a visible escape."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def json_safe(encoded: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``) with the characters
    JSON leaves raw but a terminal acts on (C1, separators, bidi) as ``\\uXXXX``:
    the same JSON value, safe to print."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)
