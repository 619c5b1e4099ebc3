"""The import rules (issue 18), beside the layer and cycle contracts that
`make lint` checks with import-linter (pyproject.toml [tool.importlinter]):
a module imports what it needs at its top; an import inside a function is
only for a heavy or optional dependency, and says so in a comment (or is the
test of whether it is there: inside try/except ImportError)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("scope", "probes", "collector", "store", "tui")
# heavy (bcc loads LLVM; textual; duckdb) or optional (the C correlator may be unbuilt; the MCP SDK,
# for scope mcp alone)
LAZY = ("bcc", "duckdb", "..tui", "._correlate", "mcp")


def _function_imports(path: Path):
    tree = ast.parse(path.read_text())
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers):
            guarded.update(id(n) for n in ast.walk(node))
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    name = ("." * node.level + (node.module or "")) if isinstance(node, ast.ImportFrom) \
                        else node.names[0].name
                    yield node.lineno, name, id(node) in guarded


def test_imports_inside_functions_are_only_lazy_heavy_or_optional_ones():
    lines_of = {}
    wrong = []
    for part in PARTS:
        for path in sorted((ROOT / part).rglob("*.py")):
            for lineno, name, guarded in _function_imports(path):
                lines = lines_of.setdefault(path, path.read_text().splitlines())
                commented = "#" in lines[lineno - 1] or "#" in lines[lineno - 2]
                if not name.startswith(LAZY) or not (commented or guarded):
                    wrong.append(f"{path.relative_to(ROOT)}:{lineno}: {name}")
    assert not wrong, "imports inside functions (move them to the top, or say why not):\n" + "\n".join(wrong)


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    """The positive control: a function-level import is found, and a guarded one told apart."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    import json\n\ndef g():\n    try:\n        import bcc\n"
                   "    except ImportError:\n        pass\n")
    assert list(_function_imports(src)) == [(2, "json", False), (6, "bcc", True)]


def _lint():
    import importlib.util
    spec = importlib.util.spec_from_file_location("lint_imports", ROOT / "tests" / "lint_imports.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_layer_contracts_hold_and_catch_an_upward_import_and_a_cycle(tmp_path):
    """`make lint`'s import contracts on the package as it is (kept), then on
    copies with one upward import (the store importing the collector) and one
    cycle (store.names importing store.query, which imports it): both broken."""
    lint = _lint()
    assert lint.check(lint.assemble(tmp_path / "as-is"), quiet=True).returncode == 0
    for case, line, says in (("upward", "from ..collector import live\n",
                              "scope.store is not allowed to import scope.collector"),
                             ("cycle", "from . import query\n", ".names -> .query")):
        tree = lint.assemble(tmp_path / case)
        names = tree / "scope" / "store" / "names.py"
        names.write_text(names.read_text() + line)
        got = lint.check(tree, quiet=True)
        assert got.returncode != 0 and "BROKEN" in got.stdout and says in got.stdout, (case, got.stdout[-2000:])


def test_every_package_folder_is_in_the_wheel():
    """pyproject.toml lists the packages a wheel holds by name: a new package
    folder left out of it works from the checkout (an editable install finds
    it) and breaks from pip (the CLI imports every command)."""
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    mapping = project["tool"]["setuptools"]["package-dir"]
    found = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if "build" in rel.parts or "__pycache__" in rel.parts:
                continue
            found.add(".".join([package, *rel.parts]))
    assert found - listed == set(), "packages missing from pyproject.toml's list"
    assert "scope.store.explain" in found           # the positive control: the folder that was missing
