"""Where each code object of a Python source file lies (pure: no I/O).

CPython's markers name a function by its file, its bare name and a line (the
entry's first line on 3.15, the line being executed at a return on 3.11). In a
file that defines the same name twice — a property's getter and setter, a
nested ``callback`` in two functions, ``__init__`` in three classes, lambdas —
that line tells them apart: it lies in the body of exactly one of them. This
module finds, from the source, every definition's qualified name (as
``co_qualname`` would say it), first line (as ``co_firstlineno``: the first
decorator's) and line span.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np

# expressions that compile to code objects of their own, and their co_name
_EXPRESSIONS = {ast.Lambda: "<lambda>", ast.GeneratorExp: "<genexpr>", ast.ListComp: "<listcomp>",
                ast.SetComp: "<setcomp>", ast.DictComp: "<dictcomp>"}


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
    source, by co_name. Raises SyntaxError, ValueError or RecursionError for
    what does not parse — with this Python's grammar, so a newer syntax is not
    understood."""
    found: dict[str, list[Def]] = {}

    def add(node, name: str, prefix: str, is_class: bool = False) -> str:
        first = min([d.lineno for d in getattr(node, "decorator_list", ())] + [node.lineno])
        found.setdefault(name, []).append(Def(name, prefix + name, first, first, node.end_lineno or first,
                                              is_class))
        return prefix + name

    def walk_all(nodes, prefix: str) -> None:
        for node in nodes:
            if node is not None:
                walk(node, prefix)

    def walk(node: ast.AST, prefix: str) -> None:
        # decorators, defaults, base classes and a comprehension's first iterable
        # run in the enclosing scope; the rest in the new code object
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if not isinstance(node, ast.Lambda):
                walk_all(node.decorator_list, prefix)
            walk_all(node.args.defaults + node.args.kw_defaults, prefix)
            name = "<lambda>" if isinstance(node, ast.Lambda) else node.name
            inner = add(node, name, prefix) + ".<locals>."
            walk_all(node.body if isinstance(node.body, list) else [node.body], inner)
        elif isinstance(node, ast.ClassDef):
            walk_all(node.decorator_list + node.bases + [k.value for k in node.keywords], prefix)
            walk_all(node.body, add(node, node.name, prefix, is_class=True) + ".")
        elif type(node) in _EXPRESSIONS:     # comprehensions (lambdas above)
            first, *rest = node.generators
            walk(first.iter, prefix)
            inner = add(node, _EXPRESSIONS[type(node)], prefix) + ".<locals>."
            walk_all([getattr(node, "elt", None), getattr(node, "key", None), getattr(node, "value", None),
                      first.target, *first.ifs], inner)
            for gen in rest:
                walk_all([gen.iter, gen.target, *gen.ifs], inner)
        else:
            walk_all(ast.iter_child_nodes(node), prefix)

    walk(ast.parse(source), "")
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
