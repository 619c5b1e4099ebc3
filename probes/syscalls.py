"""System call names and numbers of this machine (x86-64), for --syscalls.

Read from the kernel's UAPI header (linux-libc-dev); the numbers are what the
raw_syscalls tracepoints report.
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from ..errors import UsageError

HEADERS = (Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"), Path("/usr/include/asm/unistd_64.h"))
_NR = re.compile(r"^#define\s+__NR_(\w+)\s+(\d+)\s*$", re.M)


@cache
def syscall_numbers() -> dict[str, int]:
    for header in HEADERS:
        if header.exists():
            return {name: int(nr) for name, nr in _NR.findall(header.read_text())}
    return {}


@cache
def syscall_names() -> dict[int, str]:
    return {nr: name for name, nr in syscall_numbers().items()}


def name_of(nr: int) -> str:
    return syscall_names().get(nr, f"syscall_{nr}")


def parse_syscall_list(text: str) -> tuple[int, ...]:
    """'read,write,futex' -> their numbers; 'all' or '' -> () meaning every call."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    if not words or words == ["all"]:
        return ()
    table = syscall_numbers()
    out = []
    for w in words:
        if w.isdigit():
            out.append(int(w))
        elif w in table:
            out.append(table[w])
        else:
            close = [n for n in table if n.startswith(w[:4])][:4]
            raise UsageError(f"--syscalls: unknown system call {w!r}",
                             "name them as in `man 2 syscalls`, e.g. --syscalls read,write,futex"
                             + (f" (did you mean {', '.join(close)}?)" if close else ""))
    return tuple(sorted(set(out)))
