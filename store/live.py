"""Read a recording in progress: the segments on disk plus the collector's hot
tier, asked over its live socket (collector/live.py). A finished recording
reads as it is; one whose collector is gone reads from disk alone.

The socket's place and protocol are part of the recording folder's format:
`socket_path` here is where the collector (collector/live.py) serves it."""
from __future__ import annotations

import json
import os
import socket
import stat
import struct
import time
from pathlib import Path

import pyarrow as pa

from ..errors import RecordingError
from ..text import shown
from . import schema, validate
from .reader import Recording, calls_predicate, open_recording
from .safeopen import Folder, owner_ids, proc_path

NAME = "live.sock"          # in the recording's folder, while its collector runs
TIMEOUT_S = 10.0
_KEYS = ("holding", "now_ns", "segments", "calls_segments", "code_segments")
HEADER_MAX = 64 << 20        # the snapshot's JSON header: segment lists, far below this
# the whole snapshot, read by root from a socket in a folder the sudo user owns (who could
# serve anything there): the most a collector holds to send — its hot tier (writer.py's
# hold_bytes, 2 GiB, with a flight recorder; 256 MiB of segment otherwise), the calls
# running, and the names and threads not on disk (collector/bounds.py) — with room
SNAPSHOT_MAX = 5 << 29       # 2.5 GiB
SNAPSHOT_S = 120.0           # ...and its time: a server that trickles a byte per TIMEOUT_S is let go
SCHEMAS = {"events": schema.EVENTS, "calls": schema.CALLS, "code": schema.CODE, "threads": schema.THREADS}


def socket_path(folder: Path) -> tuple[str, int | None]:
    """A path to bind/connect that fits sun_path (108 bytes): the folder's own
    when short, else through an O_PATH descriptor of it (/proc/self/fd/N/…)."""
    full = str(Path(folder) / NAME)
    if len(full.encode()) < 100:
        return full, None
    fd = os.open(folder, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{fd}/{NAME}", fd


def make_private(folder: Path) -> None:
    """The live socket the collector just bound in ``folder``: 0600 and the sudo
    user's, changed through an O_PATH descriptor of it (a link put in its place
    meanwhile is refused, never chmod-ed through)."""
    fd = _socket_fd(folder)
    if fd is None:
        raise OSError(f"{Path(folder) / NAME} is not the socket just made")
    try:
        os.chmod(proc_path(fd), 0o600)          # the socket's own inode
        ids = owner_ids()
        if ids:
            os.chown(proc_path(fd), *ids)
    finally:
        os.close(fd)


def _socket_fd(folder: Path) -> int | None:
    """An O_PATH descriptor of the folder's live.sock, looked up without following
    a link and checked to be a socket (a link to another service's socket is
    never connected to); None when there is none."""
    try:
        with Folder.open(folder) as d:
            fd = os.open(NAME, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d.fd)
    except (OSError, RecordingError):
        return None
    if not stat.S_ISSOCK(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


class _Refused(Exception):
    """The snapshot went past its bound (fetch turns it into a RecordingError)."""


class _Capped:
    """The live socket as a file that refuses to read past ``limit`` bytes or ``deadline``."""

    closed = False

    def __init__(self, src, limit: int, deadline: float) -> None:
        self.src, self.limit, self.left, self.deadline = src, limit, limit, deadline

    def read(self, n: int | None = -1) -> bytes:
        if time.monotonic() > self.deadline:
            raise _Refused(f"took more than {SNAPSHOT_S:.0f} s")
        if n is None or n < 0:
            n = self.left + 1
        data = self.src.read(min(n, self.left + 1))     # never more than one byte past the bound
        self.left -= len(data)
        if self.left < 0:
            raise _Refused(f"is larger than {self.limit:,} bytes")
        return data


def fetch(folder: Path, max_bytes: int = SNAPSHOT_MAX) -> tuple[dict, dict[str, pa.Table]] | None:
    """One snapshot from the collector writing ``folder``; None when none answers.
    One larger than ``max_bytes`` (or slower than SNAPSHOT_S) is refused:
    RecordingError, one line."""
    folder = Path(folder)
    fd = _socket_fd(folder)
    if fd is None:
        return None
    path = proc_path(fd)           # the checked socket itself (also fits sun_path)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT_S)
            sock.connect(path)
            with sock.makefile("rb") as raw:
                src = _Capped(raw, max_bytes, time.monotonic() + SNAPSHOT_S)
                (n,) = struct.unpack("<Q", _exactly(src, 8))
                if n > HEADER_MAX:
                    raise ValueError(f"a live header of {n:,} bytes")
                header = json.loads(_exactly(src, n))
                if not isinstance(header, dict) or not isinstance(header.get("recording"), dict) or \
                        not isinstance(header.get("tables"), list) or not set(_KEYS) <= set(header):
                    raise ValueError("not a live snapshot's header")
                tables = {name: pa.ipc.open_stream(src).read_all() for name in header["tables"]}
    except _Refused as exc:
        raise RecordingError(f"{shown(str(folder / NAME))}: its live snapshot {exc}: refused",
                             "a collector of scope never sends that much; read the recording on disk "
                             "(without --live), and see who serves that socket") from None
    except (OSError, ValueError, pa.ArrowException):
        return None      # no collector (killed, or finished meanwhile): the disk alone
    finally:
        os.close(fd)
    return header, tables


def _exactly(src, n: int) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise ValueError("the collector closed the live socket early")
    return data


class LiveRecording(Recording):
    """A recording as its collector sees it now: disk segments + the hot tier."""

    def __init__(self, folder: Path, meta: dict, hot: dict[str, pa.Table]) -> None:
        super().__init__(folder, meta)
        self.hot = hot

    def _hot(self, name: str) -> pa.Table:
        t = self.hot.get(name)
        return t.cast(SCHEMAS[name]) if t is not None else SCHEMAS[name].empty_table()

    def events(self, lo=None, hi=None, *, kinds=(), code_ids=None, columns=None, derive=True):
        hot = self._hot("events")       # (derived events: from the hot calls too, through calls())
        return pa.concat_tables([super().events(lo, hi, kinds=kinds, code_ids=code_ids, columns=columns,
                                                derive=derive),
                                 hot.select(columns) if columns else hot])

    def calls(self, lo=None, hi=None, *, running_at=None, by_start=False, columns=None, code_ids=None,
              where=None):
        hot = self._hot("calls")
        _, _, held = calls_predicate(lo, hi, running_at=running_at, by_start=by_start,
                                     code_ids=code_ids, where=where)
        if held is not None:
            hot = hot.filter(held)
        if columns:
            hot = hot.select(columns)
        return pa.concat_tables([super().calls(lo, hi, running_at=running_at, by_start=by_start,
                                               columns=columns, code_ids=code_ids, where=where), hot])

    def calls_entries(self):
        """None: the hot tier has no summaries, so --top reads every call (exact)."""
        return None

    def code(self):
        return pa.concat_tables([super().code(), self._hot("code")])

    def threads(self):
        return self._hot("threads")


def open_live(folder: Path | str) -> Recording:
    """The recording in ``folder`` including what has not reached disk yet (also
    a flight recorder's, which has nothing on disk until it fires)."""
    folder = Path(folder)
    if (folder / "session.json").exists():
        return open_recording(folder)
    got = fetch(folder)
    if got is None:
        if (folder / "session.json").exists():     # finished while we asked
            return open_recording(folder)
        rec = open_recording(folder)
        rec.meta["live"] = False
        return rec
    header, tables = got
    meta = dict(header["recording"], format=schema.FORMAT, schema_version=schema.SCHEMA_VERSION,
                unfinished=True, live=True, holding=header["holding"], stopped_ns=header["now_ns"],
                segments=header["segments"], calls_segments=header["calls_segments"],
                code_segments=header["code_segments"])
    validate.check_meta(folder, meta, f"{folder / NAME}'s answer")    # its file names stay inside
    return LiveRecording(folder, meta, tables)
