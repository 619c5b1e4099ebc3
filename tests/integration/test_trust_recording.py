"""A recording folder is untrusted (issue 30, finding 5): its owner — here the
real unprivileged user nobody (uid 65534), owning a recording in a store that
nobody cannot write into — plants links in it, and scope, run as root, never
follows one. Every file is opened O_NOFOLLOW relative to the folder's
descriptor, pyarrow and DuckDB are handed the checked file (store/safeopen.py).

Each attack has its positive control: the same planted link, followed by a
plain path-based read or write as root (what scope did before), reaches the
root-only file or the folder elsewhere."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scope.store import schema
from scope.store.writer import RecordingWriter

from ..unit.recording import START, write_story
from ..unit.streams import to_records
from .conftest import run_scope

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
SUDO_NOBODY = {"SUDO_UID": "65534", "SUDO_GID": "65534"}      # nobody ran `sudo scope …`
SECRET = f"TOPSECRET-{uuid.uuid4().hex}"


def as_nobody(script: str) -> None:
    res = subprocess.run(NOBODY + ["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr


def give_to_nobody(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        os.chown(p, 65534, 65534, follow_symlinks=False)


def plant_link(rec: Path, name: str, target: Path) -> None:
    """nobody replaces DIR/name (file or folder) with a link to ``target``."""
    as_nobody(f"rm -rf {shlex.quote(str(rec / name))} && ln -s {shlex.quote(str(target))} "
              f"{shlex.quote(str(rec / name))}")
    assert (rec / name).is_symlink()


@pytest.fixture
def place():
    """base/ (0755): store/ (root's, 0755: nobody cannot write there) holding
    rec/ (a recording nobody owns); vault/ (root's, 0700) with root-only files;
    victim/ (root's, 0700) with one root file."""
    base = Path(tempfile.mkdtemp(prefix="scope-trust-"))
    base.chmod(0o755)
    store = base / "store"
    store.mkdir(0o755)
    rec = write_story(store / "rec")
    give_to_nobody(rec)
    vault = base / "vault"
    vault.mkdir(0o700)
    victim = base / "victim"
    victim.mkdir(0o700)
    (victim / "part-000000.parquet").write_bytes(b"root's own file")
    (victim / "part-000000.parquet").chmod(0o600)
    try:
        yield {"base": base, "store": store, "rec": rec, "vault": vault, "victim": victim}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def secret_table(rec: Path, name: str) -> pa.Table:
    """The recording's own table ``name`` with every string replaced by SECRET:
    a file scope would read and print if it followed a link to it."""
    t = pq.read_table(rec / name)
    if name == "processes.parquet":
        return pa.table({"pid": [1], "exe": [SECRET], "cmdline": [SECRET], "python_version": ["3.11"],
                         "user": [SECRET], "exit_code": [0], "ppid": [None], "start_ns": [None],
                         "end_ns": [None], "followed": [True]}, schema=schema.PROCESSES)
    cols = {c: (pa.array([SECRET] * t.num_rows, t[c].type) if pa.types.is_string(t[c].type) else t[c])
            for c in t.column_names}
    return pa.table(cols, schema=t.schema)


def refused(res: subprocess.CompletedProcess, name: str) -> None:
    """One line naming the file and saying it is a link; no secret, no traceback."""
    assert res.returncode != 0, res.stdout
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("scope: error:"), res.stderr
    assert name in err[0] and "symbolic link" in err[0], err
    assert SECRET not in res.stdout + res.stderr


READS = {
    "processes.parquet": [["query", "{rec}", "--sql", "select * from processes"]],
    "code.parquet": [["query", "{rec}", "--top"], ["query", "{rec}", "--sql", "select * from code"],
                     ["export", "{rec}", "--format", "folded", "-o", "-"], ["stats", "{rec}"]],
}


@pytest.mark.parametrize("name", list(READS))
def test_a_table_linked_to_a_root_only_file_is_refused(place, name):
    rec, vault = place["rec"], place["vault"]
    commands = [[a.format(rec=rec) for a in argv] for argv in READS[name]]
    for argv in commands:                      # control: the untouched recording answers
        res = run_scope(*argv)
        assert res.returncode == 0, (argv, res.stderr)
    secret = vault / name
    pq.write_table(secret_table(rec, name), secret)
    secret.chmod(0o600)
    assert subprocess.run(NOBODY + ["cat", str(secret)], capture_output=True).returncode != 0   # root's only
    plant_link(rec, name, secret)
    # positive control: the link leads to the secret, and a path-based read as root gets it
    assert SECRET in pq.read_table(rec / name).to_pylist().__repr__()
    for argv in commands:
        refused(run_scope(*argv), name)
    res = run_scope("store", "verify", str(rec))
    assert res.returncode == 1 and SECRET not in res.stdout + res.stderr
    assert f"damaged   {name}" in res.stdout and "symbolic link" in res.stdout, res.stdout
    assert "is damaged" in res.stderr


def test_a_recording_folder_that_is_a_link_is_refused(place):
    """The folder itself a link (planted by nobody in a shared folder): refused
    by every command, never read or written through."""
    rec, base = place["rec"], place["base"]
    shared = base / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    link = shared / "rec"
    as_nobody(f"ln -s {shlex.quote(str(rec))} {shlex.quote(str(link))}")
    assert run_scope("query", str(rec), "--top").returncode == 0        # control: the folder itself reads
    for argv in (["query", str(link), "--top"], ["store", "verify", str(link)], ["store", "compact", str(link)]):
        res = run_scope(*argv)
        assert res.returncode == 1 and "symbolic link" in res.stderr, (argv, res.stderr)


@pytest.mark.parametrize("sub", ["cold", "events", "summaries"])
def test_compaction_never_writes_or_removes_through_a_linked_folder(place, sub):
    """cold/ (or the warm events/, or summaries/) a link to a root folder
    elsewhere: `scope store compact` refuses before writing anything; the other
    folder is untouched (a write there, or the removal of its part-000000.parquet,
    would have followed the link)."""
    rec, victim = place["rec"], place["victim"]
    before = run_scope("query", str(rec), "--top", "--format", "json").stdout
    if sub == "events":          # the warm segment the recording lists, moved where the link leads
        shutil.copy2(rec / "events" / "part-000000.parquet", victim / "part-000000.parquet")
    plant_link(rec, sub, victim)
    listing = sorted(os.listdir(victim))
    content = (victim / "part-000000.parquet").read_bytes()
    # positive control: root can write into the folder, and a path-based write lands there
    (rec / sub / "probe").write_bytes(b"x")
    assert (victim / "probe").exists()
    (victim / "probe").unlink()
    res = run_scope("store", "compact", str(rec), env={**os.environ, **SUDO_NOBODY})
    # (a link under a listed segment's name is refused on opening already: validate.confined)
    said = f"{rec / sub} is a symbolic link" if sub != "events" else "which leads outside the recording"
    assert res.returncode == 1 and said in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert sorted(os.listdir(victim)) == listing and (victim / "part-000000.parquet").read_bytes() == content
    assert all(os.stat(victim / f).st_uid == 0 for f in listing)
    assert json.loads((rec / "session.json").read_text()).get("compacted") is None
    if sub == "cold":            # the recording as it was: its warm segments, every answer
        assert run_scope("query", str(rec), "--top", "--format", "json").stdout == before
    if sub == "summaries":       # --top reads the summaries: refused there too, not read through
        res = run_scope("query", str(rec), "--top")
        assert res.returncode == 1 and "symbolic link" in res.stderr, res.stderr


def test_prune_removes_a_link_as_a_link(place):
    """A recording whose cold/ links to a root folder elsewhere, in a store nobody
    cannot write: pruned, the link goes, never what it leads to. A recording
    folder that is a link (planted in a store nobody can write) is not one of
    the store's: pruning leaves it and the folder it leads to."""
    store, rec, victim, base = place["store"], place["rec"], place["victim"], place["base"]
    plant_link(rec, "cold", victim)
    listing = sorted(os.listdir(victim))
    res = run_scope("store", "prune", str(store), "--max-bytes", "0")
    assert res.returncode == 0, res.stderr
    assert not rec.exists() and sorted(os.listdir(victim)) == listing

    shared = base / "shared"                  # a store anyone writes into (1777)
    shared.mkdir()
    shared.chmod(0o1777)
    theirs = write_story(place["vault"] / "root-recording")
    before = sorted(p.name for p in theirs.rglob("*"))
    as_nobody(f"ln -s {shlex.quote(str(theirs))} {shlex.quote(str(shared / 'old'))}")
    control = shared / "copy"                  # positive control: the same recording, really in the store
    shutil.copytree(theirs, control)
    res = run_scope("store", "prune", str(shared), "--max-bytes", "0")
    assert res.returncode == 0, res.stderr
    assert not control.exists()                           # a real one is pruned
    assert sorted(p.name for p in theirs.rglob("*")) == before and (shared / "old").is_symlink()


def _unfinished(folder: Path) -> Path:
    """A recording whose collector was killed with an (empty) spill beside it:
    what `scope store recover` finishes."""
    from scope import kinds
    w = RecordingWriter(folder, segment_rows=10)
    w.set_header({"started_ns": START, "host": "test", "target": {"pid": 1},
                  "clock": {"monotonic_ns": START, "realtime_ns": 1_700_000_000 * 10**9}})
    w.add_events(to_records([(START + i, 1, kinds.CALL if i % 2 == 0 else kinds.RETURN, 1) for i in range(20)]))
    w.flush()
    w.close()
    (folder / "rings.spill").write_bytes(b"")
    (folder / "rings.json").write_text(json.dumps({"format": 1, "rings": []}))
    return folder


@pytest.mark.parametrize("name", ["events", "rings.spill", "rings.json", ".code.parquet.tmp"])
def test_recover_never_follows_a_link(place, name):
    """Its spill, its rings, its events/ or the temporary name of a file it
    writes a link to a root file or folder: refused (or, the temporary name,
    removed as a link and the file made anew), never read or written through."""
    victim, vault = place["victim"], place["vault"]
    control = _unfinished(place["store"] / "control")
    give_to_nobody(control)
    res = run_scope("store", "recover", str(control), env={**os.environ, **SUDO_NOBODY})
    assert res.returncode == 0 and (control / "session.json").exists(), res.stderr    # control: recovers
    rec = _unfinished(place["store"] / "killed")
    give_to_nobody(rec)
    target = victim if name == "events" else vault / name.strip(".")
    if target != victim:
        target.write_bytes(SECRET.encode())
        target.chmod(0o600)
    plant_link(rec, name, target)
    listing = sorted(os.listdir(victim))
    content = target.read_bytes() if target.is_file() else None
    # positive control: the link leads to root's file or folder; a path-based access as root reaches it
    assert (rec / name).exists() and (SECRET in (rec / name).read_text() if content else (rec / name).is_dir())
    res = run_scope("store", "recover", str(rec), env={**os.environ, **SUDO_NOBODY})
    assert SECRET not in res.stdout + res.stderr
    assert sorted(os.listdir(victim)) == listing
    if content is not None:
        assert target.read_bytes() == content
    if name == ".code.parquet.tmp":
        assert res.returncode == 0 and (rec / "session.json").exists(), res.stderr
        assert not (rec / name).exists() and not (rec / name).is_symlink()
        return
    # (a link under a listed segment's name is refused on opening already: validate.confined)
    said = f"{rec / name} is a symbolic link" if name != "events" else "which leads outside the recording"
    assert res.returncode == 1 and said in res.stderr, res.stderr
    assert not (rec / "session.json").exists()
