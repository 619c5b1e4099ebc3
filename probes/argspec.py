"""Translate x86-64 USDT argument specs into C expressions over ``struct pt_regs``.

A spec is ``SIZE@LOCATION``: SIZE is the byte width, negative when signed;
LOCATION is a register (``%rbp``), memory at register+offset (``-24(%rbp)``)
or an immediate (``$5``). The expressions are used by the generated per-site
entry points of the eBPF program; every one reads at most 8 bytes.
"""
from __future__ import annotations

import re

_REGS = {
    "rax": "ax", "eax": "ax", "ax": "ax", "al": "ax",
    "rbx": "bx", "ebx": "bx", "bx": "bx", "bl": "bx",
    "rcx": "cx", "ecx": "cx", "cx": "cx", "cl": "cx",
    "rdx": "dx", "edx": "dx", "dx": "dx", "dl": "dx",
    "rsi": "si", "esi": "si", "si": "si", "sil": "si",
    "rdi": "di", "edi": "di", "di": "di", "dil": "di",
    "rbp": "bp", "ebp": "bp", "bp": "bp", "bpl": "bp",
    "rsp": "sp", "esp": "sp", "sp": "sp", "spl": "sp",
    "rip": "ip",
}
for _n in range(8, 16):
    for _suffix in ("", "d", "w", "b"):
        _REGS[f"r{_n}{_suffix}"] = f"r{_n}"

_CTYPES = {1: "u8", 2: "u16", 4: "u32", 8: "u64", -1: "s8", -2: "s16", -4: "s32", -8: "s64"}
_SPEC = re.compile(r"^(-?\d+)@(.+)$")
_MEM = re.compile(r"^(-?\d*)\(%(\w+)\)$")


class ArgSpecError(ValueError):
    """An argument spec scope cannot read (e.g. another architecture's syntax)."""


def c_expression(spec: str) -> str:
    """C expression (type s64) evaluating one USDT argument inside a uprobe program."""
    match = _SPEC.match(spec)
    if not match:
        raise ArgSpecError(f"unrecognised USDT argument spec {spec!r}")
    size, location = int(match.group(1)), match.group(2)
    ctype = _CTYPES.get(size)
    if ctype is None:
        raise ArgSpecError(f"unsupported argument size in {spec!r}")
    if location.startswith("$"):
        return f"((s64)({ctype})({int(location[1:], 0)}))"
    if location.startswith("%"):
        reg = _REGS.get(location[1:])
        if reg is None:
            raise ArgSpecError(f"unknown register in {spec!r}")
        return f"((s64)({ctype})ctx->{reg})"
    mem = _MEM.match(location)
    if mem:
        offset = int(mem.group(1) or "0")
        reg = _REGS.get(mem.group(2))
        if reg is None:
            raise ArgSpecError(f"unknown register in {spec!r}")
        return (f"({{ {ctype} _v = 0; bpf_probe_read_user(&_v, sizeof(_v), "
                f"(void *)(ctx->{reg} + ({offset}))); (s64)_v; }})")
    raise ArgSpecError(f"unsupported argument location in {spec!r}")
