"""Serve the hot tier to live readers: `DIR/live.sock`, a Unix socket in the
recording's 0700 folder (so only its owner reaches it), answered between
polls. A reader connects and receives one snapshot:

    8-byte length, JSON header   {"segments": [...], "calls_segments": [...],
                                  "code_segments": [...], "now_ns": ..., "tables": [...]}
    one Arrow IPC stream per table named in "tables" (events, calls, code, threads)

The header lists the segments on disk at the moment of the snapshot, so a
reader that reads exactly those files plus the tables sent sees every row
once. The snapshot is taken in the polling loop (immutable Arrow tables: a
copy of references) and sent by a short-lived thread, so a slow reader never
holds up the recording; at most MAX_SENDERS are served at once.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from pathlib import Path

import pyarrow as pa

from ..store.build import calls_table
from ..store.live import NAME, make_private, socket_path

MAX_SENDERS = 4
SEND_TIMEOUT_S = 10.0


class LiveServer:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path, fd = socket_path(self.folder)
        try:
            self._sock.bind(path)
            make_private(self.folder)       # 0600, the sudo user's (who reads it live too); no link followed
        finally:
            if fd is not None:
                os.close(fd)
        self._sock.listen(8)
        self._sock.setblocking(False)
        self._senders: list[threading.Thread] = []
        self.served = 0
        self.last_request = 0.0        # time.monotonic() of the latest reader

    def pending(self) -> bool:
        """Is a reader waiting? (cheap: one non-blocking accept per poll)"""
        try:
            self._waiting = self._sock.accept()[0]
        except (BlockingIOError, OSError):
            self._waiting = None
        return self._waiting is not None

    def answer(self, header: dict, tables: dict[str, pa.Table]) -> None:
        """Send the snapshot to the reader that `pending` found."""
        conn, self._waiting = self._waiting, None
        self._senders = [t for t in self._senders if t.is_alive()]
        self.last_request = time.monotonic()
        if len(self._senders) >= MAX_SENDERS:
            conn.close()
            return
        t = threading.Thread(target=_send, args=(conn, dict(header, tables=list(tables)), tables),
                             name="scope-live", daemon=True)
        t.start()
        self._senders.append(t)
        self.served += 1

    def close(self) -> None:
        self._sock.close()
        try:
            (self.folder / NAME).unlink()
        except OSError:
            pass
        for t in self._senders:
            t.join(timeout=1.0)


def snapshot(session) -> tuple[dict, dict[str, pa.Table]]:
    """What a live reader gets from a session now: the segments on disk, the hot
    tier, the calls still running (status open), names and threads not yet on disk."""
    w = session.writer
    running = calls_table(session.correlator.to_columns(), session.names.function_of)
    header = {"segments": list(w.segments), "calls_segments": list(w.calls_segments),
              "code_segments": list(w.code_segments), "now_ns": time.monotonic_ns(),
              "recording": w.header, "holding": w.hold}
    return header, {
        "events": w.hot.snapshot("events"),
        "calls": pa.concat_tables([w.hot.snapshot("calls"), running]),
        "code": session.names.since_roll(session.processes.followed()),
        "threads": session.threads.table()}


def _send(conn: socket.socket, header: dict, tables: dict[str, pa.Table]) -> None:
    try:
        conn.setblocking(True)
        conn.settimeout(SEND_TIMEOUT_S)
        with conn, conn.makefile("wb") as out:
            data = json.dumps(header).encode()
            out.write(struct.pack("<Q", len(data)) + data)
            for table in tables.values():
                with pa.ipc.new_stream(out, table.schema) as writer:
                    writer.write_table(table)
    except (OSError, pa.ArrowException):
        pass      # the reader went away: its loss, never the recording's
