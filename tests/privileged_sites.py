"""Find every place scope's own code runs a program, loads a library, forks or
changes its root: the privileged actions `docs/security.md` must list.

scope is root; each of these is where a target could try to make it act for
it. The scan reads the source (ast), follows each module's import aliases
(``import subprocess as sp``, ``from os import system``) and names each site
by its file and the function around it — the key of a row in
docs/security.md's table. tests/unit/test_security_doc.py holds the two equal.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("scope", "probes", "collector", "store", "tui", "usdt_shim")

# module -> the functions of it that run, load or enter something
ACTIONS = {
    "subprocess": {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"},
    "os": {"system", "popen", "fork", "forkpty", "chroot", "setns", "unshare", "posix_spawn", "posix_spawnp",
           "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp", "execvpe",
           "spawnv", "spawnve", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnvp", "spawnvpe"},
    "ctypes": {"CDLL", "PyDLL", "LoadLibrary"},
    "pty": {"fork", "spawn"},
    "multiprocessing": {"Process", "Pool"},
}


@dataclass(frozen=True, order=True)
class Site:
    """One privileged call: ``file`` relative to the repository, the function
    (``Class.method``, or ``<module>``) it is in, and what it calls."""
    file: str
    function: str
    call: str

    @property
    def key(self) -> str:
        return f"{self.file}::{self.function}"


class _Finder(ast.NodeVisitor):
    def __init__(self, file: str):
        self.file, self.scope, self.sites = file, [], []
        self.modules: dict[str, str] = {}      # local name -> module in ACTIONS
        self.functions: dict[str, str] = {}    # local name -> "module.function"

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name in ACTIONS:
                self.modules[alias.asname or alias.name] = alias.name

    def visit_ImportFrom(self, node):
        for alias in node.names:
            if node.module in ACTIONS and alias.name in ACTIONS[node.module]:
                self.functions[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif node.module == "ctypes" and alias.name in ("cdll", "pydll"):
                self.modules[alias.asname or alias.name] = "ctypes"

    def _nested(self, node):
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _nested

    def visit_Call(self, node):
        name = self._called(node.func)
        if name:
            self.sites.append(Site(self.file, ".".join(self.scope) or "<module>", name))
        self.generic_visit(node)

    def _called(self, func) -> str | None:
        if isinstance(func, ast.Name):
            return self.functions.get(func.id)
        if not isinstance(func, ast.Attribute):
            return None
        base = func.value
        if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name) \
                and self.modules.get(base.value.id) == "ctypes" and base.attr in ("cdll", "pydll"):
            return f"ctypes.{base.attr}.{func.attr}"      # ctypes.cdll.LoadLibrary
        if isinstance(base, ast.Name) and base.id in self.modules:
            module = self.modules[base.id]
            if func.attr in ACTIONS[module] or (module == "ctypes" and base.id in ("cdll", "pydll")):
                return f"{module}.{func.attr}"
        return None


def sites_in(source: str, file: str) -> list[Site]:
    """The privileged calls in one module's source."""
    finder = _Finder(file)
    finder.visit(ast.parse(source))
    return finder.sites


def all_sites(root: Path = ROOT) -> list[Site]:
    """Every privileged call in scope's own code (tests and benches aside)."""
    found = []
    for part in PARTS:
        for path in sorted((root / part).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            found.extend(sites_in(path.read_text(), str(path.relative_to(root))))
    return sorted(set(found))


if __name__ == "__main__":
    for site in all_sites():
        print(f"{site.key}\t{site.call}")
