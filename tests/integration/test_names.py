"""Functions are told apart by qualified name, file and first line: three
same-named methods in one file are three rows, a property's getter and setter
two (tests/targets/same_names.py), each with its exact count."""
from __future__ import annotations

import json

from .conftest import PYTHON, TARGETS, query_json, run_scope

SOURCE = (TARGETS / "same_names.py").read_text().splitlines()


def line_of(text: str, after: str = "") -> int:
    start = SOURCE.index(after) if after else 0
    return next(i for i, line in enumerate(SOURCE[start:], start) if line.strip() == text) + 1


def expected() -> dict[tuple[str, int], int]:
    """(qualified name, first line) -> calls: the ground truth of same_names.py."""
    # a decorated function's first line is its first decorator's (co_firstlineno)
    getter, setter = line_of("@property"), line_of("@value.setter")
    return {("<module>", 1): 1, ("main", line_of("def main():")): 1,
            ("Event.__init__", line_of("def __init__(self):", "class Event:")): 3,
            ("Thread.__init__", line_of("def __init__(self):", "class Thread:")): 5,
            ("Condition.__init__", line_of("def __init__(self):", "class Condition:")): 7,
            ("Box.value", getter): 11, ("Box.value", setter): 13,
            ("Event", line_of("class Event:")): 1, ("Thread", line_of("class Thread:")): 1,
            ("Condition", line_of("class Condition:")): 1, ("Box", line_of("class Box:")): 1}


def top_by_identity(out, file_glob: str = "*/same_names.py") -> dict[tuple[str, int], int]:
    return {(r["function"], r["line"]): r["calls"] for r in query_json(out, "--top", "--file", file_glob)}


def test_same_named_functions_are_rows_of_their_own(tmp_path):
    out = tmp_path / "rec"
    res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "same_names.py"))
    assert res.returncode == 0, res.stderr
    assert top_by_identity(out) == expected()
    # --function matches the bare name or the qualified one
    bare = query_json(out, "--top", "--file", "*/same_names.py", "--function", "__init__")
    assert sorted(r["function"] for r in bare) == ["Condition.__init__", "Event.__init__", "Thread.__init__"]
    qualified = query_json(out, "--top", "--file", "*/same_names.py", "--function", "Thread.*")
    assert [(r["function"], r["calls"]) for r in qualified] == [("Thread.__init__", 5)]
    # the code table keeps both names
    code = query_json(out, "--sql", "select function, qualname from code where file like '%/same_names.py' "
                      "and function = '__init__' order by qualname")
    assert [(r["function"], r["qualname"]) for r in code] == [
        ("__init__", "Condition.__init__"), ("__init__", "Event.__init__"), ("__init__", "Thread.__init__")]


def test_same_named_functions_apart_through_the_markers(tmp_path):
    """Without the shim, CPython 3.11's markers name a function by file and bare
    name only, and report its returns' lines: scope tells the three __init__ and
    the getter from the setter by the definition whose body holds each line
    (read from the target's source), and gives every function its qualified
    name and first line. Before, they were one `__init__` of 15 calls and one
    `value` of 24 with no first line. (3.15's markers: test_container.py.)"""
    out = tmp_path / "rec"
    res = run_scope("run", "--no-shim", "-o", str(out), "--", PYTHON, str(TARGETS / "same_names.py"))
    assert res.returncode == 0, res.stderr
    assert top_by_identity(out) == expected()
    identity = json.loads((out / "session.json").read_text())["identity"]
    # __init__ and value here (the rest: the standard library's); read after the program ended
    assert identity["told_apart"] >= 2 and identity["records_outside"] == 0, identity
    assert "gone" not in identity["unresolved"], identity


def test_scopes_own_frames_are_hidden_unless_asked(tmp_path):
    """`scope run` preloads the shim: its import, its boot sitecustomize and its
    switch thread's calls are scope's, not the program's."""
    out = tmp_path / "rec"
    assert run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / "same_names.py")).returncode == 0

    def ours(rows):
        return sorted({r["function"] for r in rows if "/scope_shim/" in (r["file"] or "")
                       or (r["file"] or "").endswith("/boot/sitecustomize.py")})
    assert ours(query_json(out, "--top")) == []
    assert ours(query_json(out, "--calls")) == [] and ours(query_json(out, "--slowest", "1000")) == []
    shown = ours(query_json(out, "--top", "--scope-frames"))
    assert "<module>" in shown and "Switch.poll" in shown       # the shim's import, its switch thread
    stats = run_scope("stats", str(out), "--format", "json", "--limit", "1000")
    assert "/scope_shim/" not in stats.stdout
    folded = tmp_path / "f.folded"
    assert run_scope("export", str(out), "--format", "folded", "-o", str(folded)).returncode == 0
    assert "_monitoring_on" not in folded.read_text() and "Thread.__init__" in folded.read_text()
