"""Same-named functions of the marker path told apart by their lines
(collector/sourcedefs.py, collector/sources.py, collector/identity.py)."""
from __future__ import annotations

import os
import subprocess
import sysconfig
import time
import types
from pathlib import Path

import numpy as np
import pytest

from scope import kinds
from scope.collector.identity import SPLIT_BASE, Identity
from scope.collector.shmring import EVENT
from scope.collector.sourcedefs import Def, definitions, resolve, separable
from scope.collector.sources import Place, read_definitions

SAMPLE = '''\
import functools
class A:
    @property
    def pending(self):
        return 1
    @pending.setter
    def pending(self, v):
        pass
    def __init__(self):
        f = lambda x: x
        g = [i for i in range(3)]
class B:
    def __init__(self, k=lambda: 0):
        def callback():
            return (j for j in range(2))
        return callback
def outer():
    @functools.cache
    def callback():
        pass
    class B: pass
    return {k: v for k, v in [(1, 2)]}
h = lambda: 1; h2 = lambda: 2
async def run():
    return [x async for x in aiter()]
'''


def code_objects(source: str) -> list[types.CodeType]:
    """Ground truth: the code objects this Python compiles the source into."""
    out, todo = [], [compile(source, "x.py", "exec")]
    while todo:
        code = todo.pop()
        kids = [c for c in code.co_consts if isinstance(c, types.CodeType)]
        out.extend(kids)
        todo.extend(kids)
    return out


@pytest.mark.parametrize("name", ["sample", "threading.py", "collections/__init__.py", "asyncio/tasks.py",
                                  "typing.py", "argparse.py"])
def test_every_line_a_code_object_runs_tells_which_it_is(name):
    """What a marker reports — a function's bare name and a line its bytecode
    runs at (an entry's, a return's) — leads back to that very function, with
    its co_qualname and co_firstlineno, wherever the name can be told apart."""
    source = SAMPLE if name == "sample" else (Path(sysconfig.get_paths()["stdlib"]) / name).read_text()
    defs = definitions(source)
    checked = 0
    for code in code_objects(source):
        apart = separable(defs[code.co_name])
        mine = [i for i, d in enumerate(apart) if (d.qualname, d.first_line) == (code.co_qualname, code.co_firstlineno)]
        if len(apart) < 2 or not mine:      # one of its name, or it shares its lines with another
            continue
        lines = np.array(sorted({line for _, _, line in code.co_lines() if line is not None}))
        assert set(resolve(apart, lines).tolist()) == set(mine), (code.co_qualname, code.co_firstlineno)
        checked += 1
    assert checked >= (4 if name == "sample" else 5), checked


def test_spans_and_the_innermost_definition():
    defs = definitions(SAMPLE)
    assert [(d.qualname, d.start, d.end) for d in defs["pending"]] == [("A.pending", 3, 5), ("A.pending", 6, 8)]
    # a line in the getter, one in the setter, a decorator's line, one outside both
    assert resolve(defs["pending"], np.array([5, 8, 6, 4, 1])).tolist() == [0, 1, 1, 0, -1]
    nested = [Def("f", "f", 1, 1, 10, False), Def("f", "g.<locals>.f", 3, 3, 5, False)]
    assert resolve(nested, np.array([2, 4, 9])).tolist() == [0, 1, 0]


def test_what_cannot_be_told_apart():
    defs = definitions(SAMPLE)
    assert separable(defs["<lambda>"]) == [d for d in defs["<lambda>"] if d.start != 23]   # two on one line
    assert separable(defs["B"]) == []            # class bodies: their entry carries no line
    assert len(separable(defs["callback"])) == 2


GONE = 4_194_305      # above any pid_max: never a live process


@pytest.fixture
def place(tmp_path):
    """A place for a process that is gone (held, as for a short program)."""
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    held = Place(fd, os.dup(fd), (0, 0, []))
    yield held
    held.close()


def _row(code_id: int, file: str, name: str, pid: int = GONE) -> dict:
    return {"code_id": code_id, "pid": pid, "kind": "code", "file": file, "function": name, "qualname": name,
            "truncated": False, "image": 0}


def _events(rows: list[tuple[int, int, int]], pid: int = GONE) -> np.ndarray:
    ev = np.zeros(len(rows), EVENT)
    for i, (kind, code, line) in enumerate(rows):
        ev[i]["ts"], ev[i]["pid"], ev[i]["tid"] = i, pid, pid
        ev[i]["kind"], ev[i]["code"], ev[i]["line"] = kind, code, line
    return ev


def test_identity_splits_a_name_at_its_records(place):
    reads = []

    def reader(pid, files, timeout):
        reads.append(files)
        return {"/app/a.py": definitions(SAMPLE), "/app/gone.py": "unreadable"}
    ident = Identity(reader=reader)
    ident.hold(GONE, place)
    rows = [_row(0x100, "/app/a.py", "pending"), _row(0x200, "/app/a.py", "outer"),
            _row(0x300, "/app/gone.py", "f"), _row(0x400, "/app/a.py", "B"), _row(0x500, "/app/a.py", "<module>")]
    ident.learn(rows)
    ident.learn([_row(0x600, "/app/a.py", "run")])
    assert reads == [["/app/a.py", "/app/gone.py"]]         # each file read once
    # a name defined once: its qualified name and first line
    assert (rows[1]["qualname"], rows[1]["first_line"]) == ("outer", 17)
    assert (rows[4]["qualname"], rows[4]["first_line"]) == ("<module>", 1)
    assert "first_line" not in rows[0] and "first_line" not in rows[3]
    ev = _events([(kinds.CALL, 0x100, 3), (kinds.RETURN, 0x100, 5), (kinds.CALL, 0x100, 6),
                  (kinds.RETURN, 0x100, 8), (kinds.RETURN, 0x100, 40), (kinds.CALL, 0x200, 17),
                  (kinds.GC_START, 0x100, 4)])
    out, new = ident.apply(ev)
    assert out["code"].tolist() == [SPLIT_BASE, SPLIT_BASE, SPLIT_BASE + 1, SPLIT_BASE + 1, 0x100, 0x200, 0x100]
    assert ev["code"][0] == 0x100                     # the caller's array is left as it was
    assert [(r["code_id"], r["qualname"], r["first_line"], r["function"]) for r in new] == [
        (SPLIT_BASE, "A.pending", 3, "pending"), (SPLIT_BASE + 1, "A.pending", 6, "pending")]
    summary = ident.summary()
    assert ident.apply(ev)[1] == []                   # each new name is handed out once
    assert summary["told_apart"] == 1 and summary["functions_made"] == 2 and summary["records_outside"] == 1
    assert summary["unresolved"] == {"unreadable": 1, "cannot be told apart": 1}
    assert summary["named_from_source"] == 3          # outer, <module>, run


def test_the_kernels_own_ids_only():
    """Shim rows (qualified already), names without a file, truncated names: untouched, never read."""
    def reader(pid, files, timeout):
        raise AssertionError("nothing to read")
    ident = Identity(reader=reader)
    shim = _row(0xE0000010, "/app/a.py", "A.pending")
    cut = dict(_row(0x100, "/app/a.py", "pending"), truncated=True)
    ident.learn([shim, cut, dict(_row(0x200, "", "json"), kind="name"), _row(0x300, "<string>", "f")])
    assert ident.summary()["named_from_source"] == 0


def test_a_budget_bounds_the_time_spent_reading(place):
    def slow(pid, files, timeout):
        time.sleep(0.05)
        return {f: definitions(SAMPLE) for f in files}
    ident = Identity(reader=slow, budget_s=0.01)
    ident.hold(GONE, place)
    ident.learn([_row(0x100, "/app/a.py", "outer")])
    ident.learn([_row(0x200, "/app/b.py", "outer")])
    assert ident.summary()["unresolved"] == {"budget": 1} and ident.summary()["named_from_source"] == 1


# ---- reading as the target could (real processes, real files)

@pytest.fixture
def open_dir():
    """A folder anyone can enter (pytest's own tmp_path is root's, 0700)."""
    import shutil
    import tempfile
    path = Path(tempfile.mkdtemp(prefix="scope-identity-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def nobody_process(open_dir):
    """A process of user nobody, working in `open_dir`."""
    if os.geteuid() != 0:
        pytest.skip("needs root (scope's own condition)")
    proc = subprocess.Popen(["sleep", "60"], cwd=open_dir, user=65534, group=65534, extra_groups=[])
    yield proc
    proc.kill()
    proc.wait()


def test_sources_are_read_as_the_target_could(open_dir, nobody_process):
    tmp_path = open_dir
    (tmp_path / "open.py").write_text(SAMPLE)
    (tmp_path / "secret.py").write_text(SAMPLE)
    (tmp_path / "secret.py").chmod(0o600)            # root's: root could read it, nobody cannot
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "bad.py").write_text("def (:\n")
    pid = nobody_process.pid
    place = Place.of(pid)
    got = read_definitions(place, [str(tmp_path / "open.py"), "open.py", str(tmp_path / "secret.py"),
                                 str(tmp_path / "pipe.py"), "/dev/zero", str(tmp_path / "bad.py"),
                                 str(tmp_path / "none.py")], timeout=10)
    assert isinstance(got[str(tmp_path / "open.py")], dict)
    assert got["open.py"] == got[str(tmp_path / "open.py")]         # relative: from the target's cwd
    assert [d.qualname for d in got["open.py"]["pending"]] == ["A.pending", "A.pending"]
    assert got[str(tmp_path / "secret.py")] == "unreadable"
    (tmp_path / "secret.py").chmod(0o644)                           # the control: now nobody can
    assert isinstance(read_definitions(place, [str(tmp_path / "secret.py")], timeout=10)[
        str(tmp_path / "secret.py")], dict)
    assert got[str(tmp_path / "pipe.py")] == "unreadable" and got["/dev/zero"] == "unreadable"
    assert got[str(tmp_path / "bad.py")] == "unparsable" and got[str(tmp_path / "none.py")] == "unreadable"


def test_a_large_collector_reads_sources_too(open_dir):
    """The collector's address space is past 1.5 GiB (LLVM): the reading child's
    memory limit is on top of what it inherits (a fixed 1 GiB failed every
    allocation there: seen in CI as names left unparsable)."""
    import mmap
    (open_dir / "big.py").write_text((Path(sysconfig.get_paths()["stdlib"]) / "typing.py").read_text() * 30)  # ~3.5 MB
    reserve = mmap.mmap(-1, 3 << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000)   # NORESERVE: untouched, no memory
    try:
        place = Place.of(os.getpid())
        got = read_definitions(place, [str(open_dir / "big.py")], timeout=10)
        place.close()
    finally:
        reserve.close()
    assert isinstance(got[str(open_dir / "big.py")], dict), got


def test_a_short_programs_sources_are_read_after_it_ended(open_dir):
    """Its place is held while it runs; read after it has gone. A process never
    seen alive has none (said as "gone")."""
    (open_dir / "prog.py").write_text(SAMPLE)
    proc = subprocess.Popen(["sleep", "60"], cwd=open_dir)
    ident = Identity()
    ident.remember(proc.pid)
    proc.kill()
    proc.wait()
    rows = [_row(0x100, "prog.py", "outer", pid=proc.pid), _row(0x200, "/x.py", "f", pid=GONE)]
    ident.learn(rows)
    assert rows[0]["qualname"] == "outer" and rows[0]["first_line"] == 17
    assert ident.summary()["unresolved"] == {"gone": 1}
    ident.close()


def test_a_launchers_root_stands_for_the_programs(open_dir):
    """`scope run -- chroot DIR python /app.py`: names resolve inside DIR."""
    (open_dir / "app.py").write_text(SAMPLE)
    proc = subprocess.Popen(["sleep", "60"])
    try:
        ident = Identity()
        ident.remember(proc.pid, root=str(open_dir))
        ident.inherit(GONE, proc.pid)
    finally:
        proc.kill()
        proc.wait()
    rows = [_row(0x100, "/app.py", "outer", pid=GONE)]
    ident.learn(rows)
    assert rows[0]["qualname"] == "outer"
    ident.close()
