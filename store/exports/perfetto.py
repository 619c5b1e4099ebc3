"""Perfetto's native trace format (protobuf): opens in ui.perfetto.dev and its
trace processor, and stays compact for traces with millions of calls (a
Chrome JSON of the same is ~10x larger and slower to load).

Encoded by hand — a trace is a stream of `TracePacket`s, each a few varints —
so exporting needs no protobuf runtime. Layout:

* one `TrackDescriptor` per process and one per thread (its child);
* per call, a `TYPE_SLICE_BEGIN` and a `TYPE_SLICE_END` on its thread's track,
  in nesting order (the same ordering as the speedscope export);
* names and source locations are interned (`InternedData`) on one packet
  sequence, so each call costs a few bytes: the name's iid, its location's iid
  and its call id as a debug annotation.

Field numbers are Perfetto's (protos/perfetto/trace/…); the tests parse the
output back with the `perfetto` package's generated classes. Every string
(names, files, thread names, command lines: the target's) is written as
scope.text's ``shown`` writes it, so the UI, and trace_processor printing to
a terminal, show its control characters as visible escapes.
"""
from __future__ import annotations

from ...errors import RecordingError
from ...text import shown
from ..reader import Recording
from .base import Exporter
from .calls import nested, placed_calls, thread_names

SEQ = 1                       # our one trusted packet sequence id
SLICE_BEGIN, SLICE_END = 1, 2
CLEARED, NEEDS_STATE = 1, 2   # TracePacket.SequenceFlags


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1        # negative int32/int64 values are sent as 64-bit two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, data: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _str(field: int, text: str) -> bytes:
    return _bytes(field, shown(text).encode("utf-8", "replace"))


def _packet(body: bytes) -> bytes:
    """One Trace.packet (field 1)."""
    return _bytes(1, body)


def _track(uuid: int, *, parent: int | None = None, process: bytes = b"", thread: bytes = b"") -> bytes:
    desc = _int(1, uuid) + (_int(5, parent) if parent is not None else b"")
    desc += _bytes(3, process) if process else b""
    desc += _bytes(4, thread) if thread else b""
    return _packet(_bytes(60, desc))


def perfetto(rec: Recording) -> bytes:
    """The recording's calls and spans as a Perfetto protobuf trace."""
    calls = placed_calls(rec)
    names = thread_names(rec)
    cmdline = {}
    try:
        procs = rec.processes()
        cmdline = dict(zip(procs["pid"].to_pylist(), procs["cmdline"].to_pylist()))
    except RecordingError:   # an old recording without the table: name processes by pid only
        pass
    out = bytearray()
    by_thread: dict[tuple[int, int], list] = {}
    for c in calls:
        by_thread.setdefault((c.pid, c.tid), []).append(c)
    pids = sorted({pid for pid, _ in by_thread})
    for pid in pids:
        label = (cmdline.get(pid) or f"pid {pid}")[:200]
        out += _track(pid << 1 | 1, process=_int(1, pid) + _str(6, label))
    thread_uuid = {}
    for i, (pid, tid) in enumerate(sorted(by_thread)):
        thread_uuid[(pid, tid)] = uuid = (1 << 40) + i
        thread = _int(1, pid) + _int(2, tid) + _str(5, names.get((pid, tid), f"tid {tid}"))
        out += _track(uuid, parent=pid << 1 | 1, thread=thread)
    name_iid: dict[str, int] = {}
    loc_iid: dict[tuple[str, str, int], int] = {}
    first = True
    for key in sorted(by_thread):
        for ts, opens, c in nested(by_thread[key]):
            body = _int(8, ts) + _int(10, SEQ)
            if opens:
                interned = b""
                if c.name not in name_iid:
                    name_iid[c.name] = len(name_iid) + 1
                    interned += _bytes(2, _int(1, name_iid[c.name]) + _str(2, c.name))
                loc = (c.file, c.name, c.line or 0)
                if loc not in loc_iid:
                    loc_iid[loc] = len(loc_iid) + 1
                    interned += _bytes(4, _int(1, loc_iid[loc]) + _str(2, c.file) + _str(3, c.name)
                                       + _int(4, c.line or 0))
                event = (_int(9, SLICE_BEGIN) + _int(11, thread_uuid[key]) + _int(10, name_iid[c.name])
                         + _int(34, loc_iid[loc]) + _bytes(4, _str(10, "call_id") + _int(4, c.call_id)))
                if interned:
                    body += _bytes(12, interned)
            else:
                event = _int(9, SLICE_END) + _int(11, thread_uuid[key])
            body += _bytes(11, event) + _int(13, CLEARED if first else NEEDS_STATE)
            first = False
            out += _packet(body)
    return bytes(out)


EXPORTER = Exporter("perfetto", ".pftrace", perfetto,
                    "Perfetto protobuf trace (ui.perfetto.dev; best for large recordings)")
