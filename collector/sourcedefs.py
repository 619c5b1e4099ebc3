"""Where each code object of a Python source file lies (pure: no I/O).

CPython's markers name a function by its file, its bare name and a line (the
entry's first line on 3.15, the line being executed at a return on 3.11). In a
file that defines the same name twice — a property's getter and setter, a
nested ``callback`` in two functions, ``__init__`` in three classes, lambdas —
that line tells them apart: it lies in the body of exactly one of them. This
module finds, from the source, every definition's qualified name (as
``co_qualname`` says it), first line (``co_firstlineno``: the first
decorator's) and the span of its own lines.
"""
from __future__ import annotations

import types
from dataclasses import dataclass

import numpy as np

CO_OPTIMIZED = 0x1     # functions, lambdas, comprehensions; not class bodies or modules


@dataclass(frozen=True)
class Def:
    """One definition in a source file."""
    name: str          # co_name
    qualname: str      # co_qualname
    first_line: int    # co_firstlineno
    start: int         # its lines: start..end, both included
    end: int
    is_class: bool     # a class body: its entry reports no line (3.15 says -1)


def definitions(source: bytes | str) -> dict[str, list[Def]]:
    """Every function, class body, lambda and comprehension of a module's
    source, by co_name: compiled (never run) by this Python, so names, qualified
    names and first lines are CPython's own, and each one's lines are those of
    its own bytecode (a nested function's body is not its parent's). Raises
    SyntaxError, ValueError, RecursionError or MemoryError for what does not
    compile — with this Python's grammar, so a newer syntax is not understood."""
    found: dict[str, list[Def]] = {}

    def inner(code: types.CodeType) -> list[types.CodeType]:
        return [c for c in code.co_consts if isinstance(c, types.CodeType)]
    todo = inner(compile(source, "<source>", "exec", dont_inherit=True))     # the module's own: not a def
    while todo:
        code = todo.pop()
        todo.extend(inner(code))
        lines = [line for _, _, line in code.co_lines() if line is not None]
        start, end = min(lines + [code.co_firstlineno]), max(lines + [code.co_firstlineno])
        found.setdefault(code.co_name, []).append(Def(code.co_name, code.co_qualname, code.co_firstlineno,
                                                      start, end, not code.co_flags & CO_OPTIMIZED))
    for defs in found.values():
        defs.sort(key=lambda d: (d.first_line, d.start))
    return found


def separable(defs: list[Def]) -> list[Def]:
    """The definitions of one name that its lines can tell apart: functions,
    lambdas and comprehensions whose spans differ (two lambdas on one line
    cannot be told apart; a class body's entry carries no line, so a name that
    is also a class is never split)."""
    if any(d.is_class for d in defs):
        return []
    spans: dict[tuple[int, int], int] = {}
    for d in defs:
        spans[(d.start, d.end)] = spans.get((d.start, d.end), 0) + 1
    return [d for d in defs if spans[(d.start, d.end)] == 1]


def resolve(defs: list[Def], lines: np.ndarray) -> np.ndarray:
    """For each line, the index in `defs` of the innermost definition whose
    span holds it; -1 where none does (or where the innermost is not unique)."""
    lines = np.asarray(lines, dtype=np.int64)
    which = np.full(len(lines), -1, dtype=np.int64)
    order = sorted(range(len(defs)), key=lambda i: defs[i].end - defs[i].start)
    for i in order:                    # innermost (shortest) first: it claims its lines
        inside = (which < 0) & (lines >= defs[i].start) & (lines <= defs[i].end)
        which[inside] = i
    return which
