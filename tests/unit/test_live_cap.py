"""What root reads from a recording's live socket is bounded (store/live.py).

The socket lives in the recording's folder, which the sudo user owns: whoever
serves it there can send anything to `scope query --live` or the TUI's live
mode running as root. A fake server (the collector's own sender,
collector/live.py `_send`, with a table of our choosing) sends one snapshot;
past the bound it is refused in one line, at or under it it is read whole
(the positive control: the same oversized snapshot with the bound out of
reach is read, so the bound is what refuses it)."""
from __future__ import annotations

import io
import json
import socket
import struct
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from scope.collector.live import _send
from scope.errors import RecordingError
from scope.store import live

HEADER = {"segments": [], "calls_segments": [], "code_segments": [], "now_ns": 1,
          "recording": {}, "holding": False}
BIG = pa.table({"x": pa.array(range(200_000), pa.int64())})     # ~1.6 MB as an IPC stream


def snapshot_bytes(tables: dict[str, pa.Table]) -> int:
    """What the collector's sender writes for these tables, in bytes."""
    a, b = socket.socketpair()
    got = io.BytesIO()
    reader = threading.Thread(target=lambda: _drain(b, got))
    reader.start()
    _send(a, dict(HEADER, tables=list(tables)), tables)
    reader.join()
    return len(got.getvalue())


def _drain(conn: socket.socket, into: io.BytesIO) -> None:
    with conn:
        while chunk := conn.recv(1 << 16):
            into.write(chunk)


class FakeServer:
    """A live.sock in ``folder`` that answers one reader with ``send(conn)``."""

    def __init__(self, folder: Path, send) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(folder / live.NAME))
        self.sock.listen(1)
        self.thread = threading.Thread(target=self._serve, args=(send,), daemon=True)
        self.thread.start()

    def _serve(self, send) -> None:
        conn, _ = self.sock.accept()
        try:
            send(conn)
        except OSError:
            pass       # the reader refused and went away

    def close(self) -> None:
        self.thread.join(timeout=10)
        self.sock.close()


def serve_tables(folder: Path, tables: dict[str, pa.Table]) -> FakeServer:
    return FakeServer(folder, lambda conn: _send(conn, dict(HEADER, tables=list(tables)), tables))


@pytest.mark.parametrize("slack,refused", [(1, False), (0, False), (-1, True)])
def test_a_snapshot_at_its_bound(tmp_path, slack, refused):
    """The bound at exactly the snapshot's size: read; one byte less: refused."""
    size = snapshot_bytes({"events": BIG})
    server = serve_tables(tmp_path, {"events": BIG})
    try:
        if refused:
            with pytest.raises(RecordingError) as err:
                live.fetch(tmp_path, max_bytes=size + slack)
            line = err.value.line()
            assert "\n" not in line and f"larger than {size - 1:,} bytes: refused" in line
            assert str(tmp_path / live.NAME) in line
        else:
            header, tables = live.fetch(tmp_path, max_bytes=size + slack)
            assert tables["events"].equals(BIG)
    finally:
        server.close()


def test_a_snapshot_without_end_is_refused_at_the_bound(tmp_path):
    """A server that sends record batches for ever: refused at the bound, not read on."""
    sent = []

    def flood(conn: socket.socket) -> None:
        data = json.dumps(dict(HEADER, tables=["events"])).encode()
        conn.sendall(struct.pack("<Q", len(data)) + data)
        with conn.makefile("wb") as out, pa.ipc.new_stream(out, BIG.schema) as writer:
            while True:
                writer.write_table(BIG)
                sent.append(BIG.nbytes)

    server = FakeServer(tmp_path, flood)
    try:
        with pytest.raises(RecordingError, match="larger than 4,194,304 bytes: refused"):
            live.fetch(tmp_path, max_bytes=4 << 20)
    finally:
        server.close()
    assert sum(sent) < 64 << 20      # the server was cut off near the bound (plus socket buffers)


def test_a_server_slower_than_the_deadline_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(live, "SNAPSHOT_S", -1.0)        # every read is past it
    server = serve_tables(tmp_path, {"events": BIG})
    try:
        with pytest.raises(RecordingError, match=r"took more than -1 s: refused"):
            live.fetch(tmp_path)
    finally:
        server.close()


def test_positive_control_without_the_bound_the_snapshot_is_read_whole(tmp_path):
    size = snapshot_bytes({"events": BIG})
    server = serve_tables(tmp_path, {"events": BIG})
    try:
        _, tables = live.fetch(tmp_path, max_bytes=1 << 40)
    finally:
        server.close()
    assert tables["events"].num_rows == BIG.num_rows and size > 1 << 20


def test_the_default_bound_reads_a_real_snapshot(tmp_path):
    server = serve_tables(tmp_path, {"events": BIG, "calls": BIG.slice(0, 10)})
    try:
        _, tables = live.fetch(tmp_path)
    finally:
        server.close()
    assert tables["calls"].num_rows == 10 and tables["events"].num_rows == BIG.num_rows
