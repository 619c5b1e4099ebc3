import json
import os
import stat

import pytest

from scope import kinds
from scope.errors import RecordingError
from scope.store.fsutil import OutputError, make_private_dir
from scope.store.reader import open_recording
from scope.store.writer import RecordingWriter

from .recording import START, write_recording

EVENTS = [(START + 10, 1, kinds.CALL, 1), (START + 20, 1, kinds.CALL, 2),
          (START + 50, 1, kinds.RETURN, 2), (START + 100, 1, kinds.RETURN, 1),
          (START + 120, 2, kinds.RETURN, 3), (START + 130, 2, kinds.GC_START, 0)]
CODE = {1: ("main", "/app/main.py"), 2: ("work", "/app/work.py"), 3: ("tail", "/app/main.py")}


def test_parquet_round_trip(tmp_path):
    rec = open_recording(write_recording(tmp_path / "r", EVENTS, CODE, segment_rows=2))
    ev = rec.events()
    assert ev.num_rows == len(EVENTS)
    assert len(rec.meta["segments"]) == 1   # flushed once, explicitly
    assert ev["ts"].to_pylist() == [e[0] for e in EVENTS]
    assert ev["tid"].to_pylist() == [e[1] for e in EVENTS]
    assert [kinds.BY_NAME[k] for k in ev["kind"].cast("string").to_pylist()] == [e[2] for e in EVENTS]
    calls = rec.calls().to_pylist()
    by_code = {c["code_id"]: c for c in calls}
    assert by_code[1]["duration_ns"] == 90 and by_code[1]["self_ns"] == 60
    assert by_code[2]["parent_id"] == by_code[1]["call_id"]
    assert by_code[3]["start_ns"] is None and by_code[3]["status"] == "start_unseen"
    assert rec.code().num_rows == 3


def test_files_are_private_and_complete(tmp_path):
    folder = write_recording(tmp_path / "r", EVENTS, CODE)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "events").stat().st_mode) == 0o700
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert not [p for p in files if p.name.endswith(".tmp")]


def test_files_belong_to_the_sudo_user(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    monkeypatch.setenv("SUDO_UID", "12345")
    monkeypatch.setenv("SUDO_GID", "23456")
    folder = write_recording(tmp_path / "r", EVENTS, CODE)
    for p in [folder, *folder.rglob("*")]:
        assert (p.stat().st_uid, p.stat().st_gid) == (12345, 23456), p


def test_refuses_symlinked_output(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OutputError, match="symbolic link"):
        make_private_dir(tmp_path / "link")


@pytest.mark.parametrize("make,message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_text("x"), "is a file"),
    (lambda p: p.mkdir(), "not a scope recording"),
    (lambda p: (p.mkdir(), (p / "session.json").write_text("{bad")), "unreadable"),
    (lambda p: (p.mkdir(), (p / "session.json").write_text(json.dumps(
        {"format": "scope-recording", "schema_version": 99}))), "newer scope"),
])
def test_open_rejects_what_is_not_a_recording(tmp_path, make, message):
    path = tmp_path / "x"
    make(path)
    with pytest.raises(RecordingError, match=message):
        open_recording(path)


@pytest.mark.parametrize("layout,damaged", [("segments", "calls/part-000000.parquet"),
                                             ("single", "calls.parquet")])
def test_damaged_table_is_reported(tmp_path, layout, damaged):
    folder = write_recording(tmp_path / "r", EVENTS, CODE, layout=layout)
    assert (folder / damaged).exists()
    (folder / damaged).write_bytes(b"PAR1 truncated")
    rec = open_recording(folder)
    with pytest.raises(RecordingError, match="damaged"):
        rec.calls()
    # the rest stays readable: every event stored as such (the call and return
    # events the calls rows stand for are derived from them: store/derive.py)
    assert rec.events(derive=False).num_rows == len(EVENTS)
    assert rec.events(kinds=("gc_start",)).num_rows == len(EVENTS)   # no calls needed: none derived
    with pytest.raises(RecordingError, match=f"{damaged} is damaged"):
        rec.events()


def test_refuses_a_folder_of_another_user(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 12345, 12345)
    with pytest.raises(OutputError, match="belongs to another user"):
        make_private_dir(theirs)
    with pytest.raises(OutputError, match="belongs to another user"):
        RecordingWriter(theirs / "rec")        # inside it: refused before anything is written
    assert not (theirs / "rec").exists()


def test_a_world_writable_output_folder_is_made_private(tmp_path):
    """-o naming an empty 1777 folder (issue 16): it becomes 0700 before anything
    is written in it, so nobody else can plant or swap files beside the recording's."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    make_private_dir(shared)
    assert shared.stat().st_mode & 0o7777 == 0o700


def test_an_atomic_file_cannot_be_claimed_first(tmp_path):
    """Whatever sits under the temporary name (a link planted there) is removed,
    not followed, and the file made anew exclusively (O_EXCL)."""
    from scope.store.fsutil import write_bytes_atomic
    target = tmp_path / "catalog.json"
    decoy = tmp_path / "elsewhere"
    decoy.write_text("theirs")
    (tmp_path / ".catalog.json.tmp").symlink_to(decoy)          # the old fixed name, planted
    write_bytes_atomic(target, b"{}")
    assert target.read_bytes() == b"{}" and target.stat().st_mode & 0o777 == 0o600
    assert decoy.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.json", "elsewhere"]
