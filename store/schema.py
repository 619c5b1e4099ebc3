"""Arrow schemas of a recording's tables (the on-disk contract)."""
from __future__ import annotations

import pyarrow as pa

from scope import kinds

# 2: a shim ring's plain call and return events are not in `events`; the calls
# row they belong to stands for them (`derived`), and readers derive them
# (store/derive.py). Recordings of version 1 hold every event in `events`.
SCHEMA_VERSION = 2
FORMAT = "scope-recording"

EVENTS = pa.schema([
    ("ts", pa.int64()),          # monotonic ns
    ("pid", pa.int32()),
    ("tid", pa.int32()),
    ("kind", pa.dictionary(pa.int8(), pa.string())),
    ("code_id", pa.uint32()),    # -> code.id; 0 = none
    ("line", pa.int32()),
    ("arg", pa.int32()),
    ("flags", pa.int16()),       # SCOPE_F_*: resume/yield/raised, payload truncated/redacted/repr
    ("ref", pa.int64()),         # span id, tracing state (app events)
    ("parent", pa.int64()),      # parent span id
    ("task", pa.int64()),        # asyncio task id
    ("payload", pa.string()),    # mark/span fields (JSON), state value, message id
])

# the dictionary of the events' kind column as the writer builds it (index = kind number)
KIND_DICTIONARY = pa.array([kinds.NAMES.get(i, f"kind_{i}") for i in range(max(kinds.NAMES) + 1)])

CALLS = pa.schema([
    ("call_id", pa.int64()),
    ("parent_id", pa.int64()),   # null: no parent seen
    ("depth", pa.int32()),       # among calls whose entry was seen; null when unknown
    ("pid", pa.int32()),
    ("tid", pa.int32()),
    ("code_id", pa.uint32()),
    ("start_ns", pa.int64()),    # null: entry not seen
    ("end_ns", pa.int64()),      # null: no return seen
    ("duration_ns", pa.int64()),
    ("self_ns", pa.int64()),
    ("status", pa.dictionary(pa.int8(), pa.string())),
    ("kind", pa.dictionary(pa.int8(), pa.string())),   # "call" or "span"
    ("exception", pa.string()),  # exception type, status "raised"
    ("task", pa.int64()),        # asyncio task id (spans)
    ("derived", pa.int8()),      # its events not in `events`, derived from this row on read:
                                 # 1 its call (at start_ns, line = the code's first line), 2 its
                                 # return (at end_ns, line 0); null in recordings before schema 2
])

CODE = pa.schema([
    ("code_id", pa.uint32()),
    ("pid", pa.int32()),
    ("kind", pa.string()),       # "code" (file + function) or "name" (module, audit event)
    ("file", pa.string()),
    ("function", pa.string()),   # its own name (co_name)
    ("first_line", pa.int32()),
    ("truncated", pa.bool_()),
    ("qualname", pa.string()),   # qualified (co_qualname) where the shim recorded it, else the name;
                                 # null in recordings made before it existed
])

THREADS = pa.schema([
    ("pid", pa.int32()),
    ("tid", pa.int32()),
    ("name", pa.string()),
    ("first_ns", pa.int64()),
    ("last_ns", pa.int64()),
    ("events", pa.int64()),
    ("started_ns", pa.int64()),   # created during the recording (null: before it)
    ("exited_ns", pa.int64()),    # ended during the recording (null: still running at stop)
    ("ns_tid", pa.int32()),       # the thread's id as its process sees it (differs in a container:
                                  # its own PID namespace); null: gone before scope could ask
])

PROCESSES = pa.schema([
    ("pid", pa.int32()),
    ("exe", pa.string()),
    ("cmdline", pa.string()),
    ("python_version", pa.string()),
    ("user", pa.string()),
    ("exit_code", pa.int32()),     # known for the process scope started (scope run)
    ("ppid", pa.int32()),          # the recorded process that forked it (null: the target)
    ("start_ns", pa.int64()),      # forked at (null: running before the recording)
    ("end_ns", pa.int64()),        # exited at (null: still running at the end)
    ("followed", pa.bool_()),      # its calls were recorded (children: --follow)
])

SYSCALLS = pa.schema([
    ("pid", pa.int32()),
    ("tid", pa.int32()),
    ("start_ns", pa.int64()),
    ("duration_ns", pa.int64()),
    ("syscall", pa.dictionary(pa.int16(), pa.string())),
    ("ret", pa.int64()),           # the return value (clamped to 32 bits, see `clamped`)
    ("clamped", pa.bool_()),
    ("call_id", pa.int64()),       # the Python call running then (null: none known)
])

OFFCPU = pa.schema([
    ("pid", pa.int32()),
    ("tid", pa.int32()),
    ("start_ns", pa.int64()),    # when the thread left the CPU
    ("duration_ns", pa.int64()),  # µs resolution
    ("reason", pa.dictionary(pa.int8(), pa.string())),   # preempted/sleep/lock/io/disk/wait
    ("syscall", pa.int32()),     # the system call it was in (-1: none)
    ("call_id", pa.int64()),     # the Python call running then (null: none known)
])

MESSAGES = pa.schema([
    ("channel", pa.string()),
    ("msg_id", pa.string()),
    ("send_ns", pa.int64()), ("send_pid", pa.int32()), ("send_tid", pa.int32()),
    ("recv_ns", pa.int64()), ("recv_pid", pa.int32()), ("recv_tid", pa.int32()),
    ("latency_ns", pa.int64()),   # null: one end not recorded
])
