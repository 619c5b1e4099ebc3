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

NAMES = {
    CALL: "call",
    RETURN: "return",
    GC_START: "gc_start",
    GC_DONE: "gc_done",
    IMPORT_START: "import_start",
    IMPORT_DONE: "import_done",
    AUDIT: "audit",
}
BY_NAME = {name: code for code, name in NAMES.items()}

# call statuses in the `calls` table
COMPLETE = "complete"          # entry and return both seen
START_UNSEEN = "start_unseen"  # return seen, entry not: running at attach, or not reported
OPEN = "open"                  # entry seen, still running when the recording stopped
BROKEN = "broken"              # entry seen, its return lost (or unwound without one)

STATUSES = (COMPLETE, START_UNSEEN, OPEN, BROKEN)

# drop reasons, indexes of the kernel's drops array (SCOPE_D_*)
DROP_REASONS = ("events_ring_full", "names_ring_full", "string_read_failed")
