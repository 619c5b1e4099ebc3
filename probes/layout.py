"""numpy dtypes of the kernel records, read from probes/scope_events.h.

The header is the single definition of each record; this parses its plain
struct fields (``__u32 pid;``, ``char file[SCOPE_FILE_MAX];``) so decoding
never depends on a hand-written copy of the layout.
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np

HEADER = Path(__file__).with_name("scope_events.h")

_TYPES = {"__u8": "u1", "__u16": "u2", "__u32": "u4", "__u64": "u8",
          "__s8": "i1", "__s16": "i2", "__s32": "i4", "__s64": "i8"}
# numbers as C writes them: 0x1F, 12, 0xE0000000u, 0x31474e4952504f43ULL, (-1)
_DEFINE = re.compile(r"^#define\s+(\w+)\s+\(?(-?(?:0x[0-9A-Fa-f]+|\d+))\)?[uUlL]*(?=\s|$)", re.M)
_STRUCT = re.compile(r"struct\s+(\w+)\s*\{(.*?)\};", re.S)
_FIELD = re.compile(r"^\s*(\w+)\s+(\w+)(?:\[(\w+)\])?\s*;", re.M)


def _strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


@cache
def header_constants() -> dict[str, int]:
    return {k: int(v, 0) for k, v in _DEFINE.findall(HEADER.read_text())}


@cache
def record_dtype(struct_name: str) -> np.dtype:
    """The dtype (C layout, aligned) of ``struct <struct_name>`` in the header."""
    text = _strip_comments(HEADER.read_text())
    consts = header_constants()
    for name, body in _STRUCT.findall(text):
        if name != struct_name:
            continue
        fields = []
        for ctype, fname, count in _FIELD.findall(body):
            size = int(consts.get(count, count)) if count else 0
            if ctype == "char":
                fields.append((fname, f"S{size}"))
            elif count:
                fields.append((fname, _TYPES[ctype], (size,)))
            else:
                fields.append((fname, _TYPES[ctype]))
        return np.dtype(fields, align=True)
    raise KeyError(f"struct {struct_name} not found in {HEADER}")
