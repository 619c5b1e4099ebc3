"""docs/security.md's table of privileged actions is true of the code: every
place scope runs a program, loads a library, forks or changes its root has its
row (what runs, as whom, on what input, with what bound), and every row names
a place that exists. The scan itself is checked on planted sources first."""
from __future__ import annotations

import re

from tests.privileged_sites import ROOT, all_sites, sites_in

DOC = ROOT / "docs" / "security.md"


def documented() -> set[str]:
    """The ``file::function`` keys in the first column of the table under
    '## Privileged actions'."""
    text = DOC.read_text()
    section = text.split("## Privileged actions", 1)[1].split("\n## ", 1)[0]
    keys = set()
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            first = line.split("|")[1]
            keys.update(re.findall(r"`([\w/.]+\.py::[\w.<>]+)`", first))
    return keys


def test_the_scan_finds_each_way_of_naming_a_privileged_call():
    source = '''
import subprocess
import subprocess as sp
import os, ctypes
from os import system as sh, fork
from ctypes import cdll

def a(): subprocess.run(["x"])
def b(): sp.Popen(["x"])
class C:
    def m(self): sh("x")
def d(): fork()
def e(): os.chroot(".")
def f(): ctypes.CDLL(None)
def g(): cdll.LoadLibrary("libc.so.6")
def h(): os.execvpe("x", [], {})
def fine(): os.getpid(); subprocess.CompletedProcess; str.join("", [])
'''
    found = {(s.function, s.call) for s in sites_in(source, "planted.py")}
    assert found == {("a", "subprocess.run"), ("b", "subprocess.Popen"), ("C.m", "os.system"),
                     ("d", "os.fork"), ("e", "os.chroot"), ("f", "ctypes.CDLL"),
                     ("g", "ctypes.LoadLibrary"), ("h", "os.execvpe")}


def test_every_privileged_call_site_has_its_row_and_every_row_its_site():
    in_code = {s.key for s in all_sites()}
    assert in_code, "the scan found nothing: it is broken, not the code clean"
    in_doc = documented()
    assert not in_code - in_doc, f"privileged call sites without a row in docs/security.md: {sorted(in_code - in_doc)}"
    assert not in_doc - in_code, f"rows of docs/security.md naming no call site: {sorted(in_doc - in_code)}"


def test_the_table_reads_rows_as_written(tmp_path, monkeypatch):
    doc = tmp_path / "security.md"
    doc.write_text("# x\n## Privileged actions\n| where | what |\n| --- | --- |\n"
                   "| `probes/a.py::f`, `b/c.py::K.m` | gcc |\n## Next\n| `x/y.py::z` | no |\n")
    monkeypatch.setattr(f"{__name__}.DOC", doc)
    assert documented() == {"probes/a.py::f", "b/c.py::K.m"}
