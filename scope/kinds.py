"""Event kinds shared by the probes, the collector and the store.

The numbers are the ones in probes/scope_events.h (SCOPE_K_*); a unit test
checks the two agree.
"""
from __future__ import annotations

CALL = 1
RETURN = 2
GC_START = 3
GC_DONE = 4
IMPORT_START = 5
IMPORT_DONE = 6
AUDIT = 7
MARK = 8
SPAN_BEGIN = 9
SPAN_END = 10
STATE = 11
SEND = 12
RECV = 13
TRACING = 14
RING = 15
OFFCPU = 16
THREAD_START = 17
THREAD_EXIT = 18
FORK = 19
EXIT = 20
EXEC = 21
SYSCALL = 22
LOSS = 23
LINE = 24
SHIM_ERROR = 25

# flags, as in scope_events.h (SCOPE_F_*)
F_RESUME = 0x1
F_YIELD = 0x2
F_RAISED = 0x4
F_CORO = 0x8
F_TRUNCATED = 0x10
F_REDACTED = 0x20
F_REPR = 0x40
F_KTRUNC = 0x80
F_USEC = 0x100
F_CLAMPED = 0x200
F_CREATED = 0x400
# the collector's own mark, never stored: a shim ring's plain call (no flags, no
# generator) or plain return (no flags, no generator, line 0) whose calls row
# stands for it. Such events are not written to `events`; readers derive them
# from the row (store/derive.py). Marked only on records read from a ring,
# after its checks (collector/shmring.mark_derived); the correlator reads it.
F_DERIVED = 0x8000

NAMES = {
    CALL: "call",
    RETURN: "return",
    GC_START: "gc_start",
    GC_DONE: "gc_done",
    IMPORT_START: "import_start",
    IMPORT_DONE: "import_done",
    AUDIT: "audit",
    MARK: "mark",
    SPAN_BEGIN: "span_begin",
    SPAN_END: "span_end",
    STATE: "state",
    SEND: "send",
    RECV: "recv",
    TRACING: "tracing",
    RING: "ring",
    OFFCPU: "offcpu",
    THREAD_START: "thread_start",
    THREAD_EXIT: "thread_exit",
    FORK: "fork",
    EXIT: "exit",
    EXEC: "exec",
    SYSCALL: "syscall",
    LOSS: "loss",
    LINE: "line",
    SHIM_ERROR: "shim_error",
}
# why the shim swallowed a failure (SCOPE_SHIM_E_*), the `arg` of shim_error events
SHIM_ERRORS = {1: "name", 2: "payload", 3: "message_id", 4: "profile", 5: "code_cache",
               6: "audit_hook", 7: "switch"}
# off-CPU reasons (SCOPE_OFF_*), the `code` of offcpu events
OFF_REASONS = {1: "preempted", 2: "sleep", 3: "lock", 4: "io", 5: "disk", 6: "wait"}
APP_KINDS = (MARK, SPAN_BEGIN, SPAN_END, STATE, SEND, RECV, TRACING)
BY_NAME = {name: code for code, name in NAMES.items()}

# call statuses in the `calls` table
COMPLETE = "complete"          # entry and return both seen
START_UNSEEN = "start_unseen"  # return seen, entry not: running at attach, or not reported
OPEN = "open"                  # entry seen, still running when the recording stopped
BROKEN = "broken"              # entry seen, its return lost (or unwound without one)
RAISED = "raised"              # ended by an exception (shim)
ABANDONED = "abandoned"        # a generator dropped while suspended: it never finished
ENDED = "ended"                # entry seen; its process exited or exec'd another program first:
                               # end is then (its frames were gone, no return could come)
SPANS_GAP = "spans_gap"        # complete, but capture was paused meanwhile (--max-overhead):
                               # its duration is exact, its children and self time are not

STATUSES = (COMPLETE, START_UNSEEN, OPEN, BROKEN, RAISED, ABANDONED, SPANS_GAP, ENDED)
COMPLETED = (COMPLETE, START_UNSEEN, RAISED, SPANS_GAP)

# drop reasons, indexes of the kernel's drops array (SCOPE_D_*)
DROP_REASONS = ("events_ring_full", "names_ring_full", "string_read_failed", "app_ring_full")
SHIM_RING_FULL = "shim_ring_full"   # counted by the shim in its ring's header

# tracing events (TRACING): the state the shim reports, as in scope_events.h
# (SCOPE_TRACING_*) and usdt_shim/scope_shim/_switch.py; a unit test checks all three
TRACING_REFUSED, TRACING_OFF, TRACING_ON = -1, 0, 1
TRACING_SWITCH, TRACING_FORKED = 2, 3        # not changes of state: the switch thread, a forked child's check
TRACING_PAUSED, TRACING_RESUMED = 4, 5
TRACING_STATES = {TRACING_ON: "on", TRACING_OFF: "off", TRACING_REFUSED: "refused", TRACING_PAUSED: "paused",
                  TRACING_RESUMED: "resumed"}
