"""store/safeopen.py: nothing in a recording folder is followed or opened
unless it is what scope writes there (issue 30, finding 5). The attacks as
uid 65534 against the commands are in tests/integration/test_trust_recording.py."""
from __future__ import annotations

import os
import threading

import pytest

from scope.store.fsutil import OutputError
from scope.store.reader import open_recording
from scope.store.safeopen import Folder, UnsafeEntry
from scope.store.sql import run_sql
from scope.store.verify import verify
from scope.store.writer import RecordingWriter

from .recording import write_story


@pytest.fixture
def rec(tmp_path):
    return write_story(tmp_path / "rec")


def test_a_fifo_in_a_tables_place_is_refused_never_opened(rec):
    """code.parquet a FIFO: refused by its kind, before any open (an open of a
    FIFO for reading waits for a writer: a reader would hang for ever)."""
    (rec / "code.parquet").unlink()
    os.mkfifo(rec / "code.parquet")
    # positive control: a plain open of that name (as session.json and catalog.json
    # were read before) blocks until a writer comes
    blocked = threading.Thread(target=lambda: open(rec / "code.parquet", "rb").close(), daemon=True)
    blocked.start()
    blocked.join(1)
    assert blocked.is_alive()
    with pytest.raises(UnsafeEntry, match="code.parquet is a FIFO, not a regular file"):
        open_recording(rec).code()
    with pytest.raises(UnsafeEntry, match="code.parquet is a FIFO"):
        run_sql([open_recording(rec)], "select * from code")
    rep = verify(rec)
    assert ("code.parquet", "a FIFO, not a regular file (not followed)") in rep.damaged and not rep.healthy
    os.close(os.open(rec / "code.parquet", os.O_WRONLY | os.O_NONBLOCK))     # lets the control go
    blocked.join(5)


def test_duckdb_reads_the_checked_files_only(rec):
    """The views name /proc/self/fd/N of the checked files, not the folder's names."""
    got = run_sql([open_recording(rec)], "select count(*) as n from calls").to_pylist()
    assert got[0]["n"] > 0
    r = open_recording(rec)
    assert r.pinned("code.parquet").startswith("/proc/self/fd/")
    r.dir.unpin()


def test_a_link_planted_in_a_folder_being_written_is_refused(tmp_path):
    """The folder scope writes a recording into belongs to the sudo user, who may
    plant links in it: a segment folder that is a link is refused, nothing is
    written where it leads."""
    folder = tmp_path / "rec"
    elsewhere = tmp_path / "elsewhere"
    folder.mkdir(0o700)
    elsewhere.mkdir()
    (folder / "events").symlink_to(elsewhere)
    (folder / "events" / "probe").write_text("x")      # positive control: a path-based write lands there
    assert (elsewhere / "probe").exists()
    (elsewhere / "probe").unlink()
    with pytest.raises(OutputError, match="events is a symbolic link"):
        RecordingWriter(folder)
    assert os.listdir(elsewhere) == []


def test_names_that_leave_the_folder_are_refused(rec):
    with Folder.open(rec) as d:
        for bad in ("../rec/code.parquet", "/etc/passwd", "events/../../x"):
            with pytest.raises(UnsafeEntry, match="not a name inside the recording"):
                d.read_bytes(bad)


@pytest.mark.parametrize("name", ["session.json", "catalog.json"])
def test_a_fifo_in_a_metadata_files_place_is_refused(rec, name):
    """session.json / catalog.json a FIFO: refused by its kind (a plain read of
    it, as before, waits for a writer for ever: the control above)."""
    (rec / "session.json").unlink()         # without it (unfinished) the catalog is what is read
    (rec / name).unlink(missing_ok=True)
    os.mkfifo(rec / name)
    with pytest.raises(UnsafeEntry, match=f"{name} is a FIFO, not a regular file"):
        open_recording(rec)
