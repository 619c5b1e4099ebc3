"""The memory bounds of the tables the target feeds (invariant 6a: every table
fed by the target has a memory bound with counted drops).

A target decides how many code objects, names, threads and files it shows
scope: one that makes, calls and drops a new function in a loop shows a new
code object every few microseconds while its own memory stays flat. Each
table below holds at most its capacity; past it, what is new is dropped and
counted by reason (session.json ``drops``, the summary's ``dropped``), and what
is kept stays exact: a call whose name was dropped is still counted and stored,
its code id with no row in ``code`` (shown as unknown, never invented).

Each table, its capacity, and the memory that capacity implies at most:
- code names (namebook.py): ``NAMES_MAX_BYTES``, 64 MiB of names as
  ``name_cost`` measures them (strings + entry): ~170,000 names whose file
  and name are 60 characters each;
- first lines (correlate.py, _correlate.c): ``FIRST_LINES_MAX`` = 262,144 code
  objects, ~120 bytes each (a dict entry, two ints, a hash slot): ~32 MiB;
- app-event names (namebook.py): ``APP_NAMES_MAX`` = 16,384 names of at most
  127 bytes: ~5 MiB;
- threads (threads.py): ``THREADS_MAX`` = 65,536 rows of ~300 bytes, and as
  many refused ones remembered (to count each once): ~25 MiB;
- the correlator's threads (_correlate.c): an idle one (empty stack) is
  forgotten at each drain, so only the threads running at once are held;
- sources read (identity.py): ``SOURCE_FILES_MAX`` = 4,096 files' definitions,
  the oldest let go (read again if needed), and what is read at all is bounded
  by the reading budget (identity.BUDGET_S: 10 s of parsing per recording,
  files ≤ 4 MiB); ``SPLITS_MAX``
  = 16,384 names told apart (past it a name keeps the kernel's id, counted in
  ``identity.unresolved``);
- spans (app.py): ``SPANS_OPEN_MAX`` = 16,384 spans begun and not ended yet
  (each ~600 bytes: its begin without its payload, measured ~380 beside its
  name): ~10 MiB, the oldest let go past it (counted, no row: whether it ended
  is unknown); ``SPAN_ROWS_MAX`` = 131,072 finished spans (measured ~470
  bytes each beside the name: ~75 MiB), the later ones not kept. The
  span rows cannot go out with each roll: their ids follow every call id the
  correlator gives, so they are numbered at the end (finish.py);
- messages (app.py): ``MESSAGE_SENDS_MAX_BYTES``, 16 MiB of sends held for
  a receive to pair with, ``MESSAGE_ROWS_MAX_BYTES``, 64 MiB of edges, both as
  ``message_cost`` measures them (a message id can be 16 KiB: bytes, not a
  count). Past the first a received send is forgotten first (its edge is
  written), then the oldest one waiting (counted, no row); past the second
  new edges are not kept. The app events themselves are all stored
  (``events``), whatever these tables keep.

Together: about 300 MiB of collector memory at most under any churn (and what
10 s of parsing sources yields), on top of
what a recording holds anyway (the rings' backlog: options.BACKLOG_MEMORY; the
calls between rolls: session.ROLL_EVENTS). Measured: a target making ~35,000
new functions a second grew the collector by ~30 MB/s without bound before
(names held as dicts, ~1 KB each); with these bounds the collector's RSS
levels off once the tables are full (~500 MB for that target, most of it the
calls and events of a busy recording between rolls), and the test holds its
growth under a stated bound (tests/integration/test_trust_churn.py).

The capacities can be changed for one run through the environment
(``SCOPE_NAMES_MAX_BYTES`` …, the name in ``ENV``): the tests use it to show the
table grows past its bound without one. Only root's own environment reaches a
root scope (sudo resets the rest).
"""
from __future__ import annotations

import os
import sys

from ..errors import UsageError

NAMES_MAX_BYTES = 64 << 20     # a large program calls 20-50k functions (~15 MB of names):
                               # room for several such processes followed at once
ENTRY_BYTES = 176              # a held name's own cost beside its strings: key, dict slot, tuple
FIRST_LINES_MAX = 1 << 18      # code objects whose first line is kept (~120 bytes each)
APP_NAMES_MAX = 1 << 14        # distinct mark/span/state/channel names (apps use tens)
THREADS_MAX = 1 << 16          # threads.parquet rows (a thread-per-request server for days)
SOURCE_FILES_MAX = 1 << 12     # source files whose definitions are held (identity.py)
SPLITS_MAX = 1 << 14           # same-named functions told apart (identity.py: a name, its definitions)
SPANS_OPEN_MAX = 1 << 14       # spans open at once (a server's requests in flight x their depth)
SPAN_ROWS_MAX = 1 << 17        # span rows (calls of kind span): app-level spans (requests), not calls
MESSAGE_SENDS_MAX_BYTES = 16 << 20   # sends held for their receive (~30,000 short ids in flight)
MESSAGE_ROWS_MAX_BYTES = 64 << 20    # messages.parquet edges (~130,000 with short ids)
MESSAGE_ENTRY_BYTES = 400      # a held send or an edge beside its strings (measured ~290, ~370)

ENV = {"NAMES_MAX_BYTES": "SCOPE_NAMES_MAX_BYTES", "FIRST_LINES_MAX": "SCOPE_FIRST_LINES_MAX",
       "APP_NAMES_MAX": "SCOPE_APP_NAMES_MAX", "THREADS_MAX": "SCOPE_THREADS_MAX",
       "SPANS_OPEN_MAX": "SCOPE_SPANS_OPEN_MAX", "SPAN_ROWS_MAX": "SCOPE_SPAN_ROWS_MAX",
       "MESSAGE_SENDS_MAX_BYTES": "SCOPE_MESSAGE_SENDS_MAX_BYTES",
       "MESSAGE_ROWS_MAX_BYTES": "SCOPE_MESSAGE_ROWS_MAX_BYTES"}


def capacity(name: str) -> int:
    """The capacity ``name`` (a constant above) for this run: the constant,
    or a positive whole number from its environment variable."""
    default = globals()[name]
    raw = os.environ.get(ENV.get(name, ""), "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"{ENV[name]}={raw[:40]!r} is not a positive whole number",
                         f"unset {ENV[name]} (default {default:,}) or give a positive whole number")
    return value


def name_cost(*texts: str | None) -> int:
    """What holding one name costs, in bytes: its strings and its entry."""
    return ENTRY_BYTES + sum(sys.getsizeof(t) for t in texts if t is not None)


def message_cost(channel: str | None, msg_id: str | None) -> int:
    """What holding one send or one edge costs, in bytes: its strings and its entry."""
    return MESSAGE_ENTRY_BYTES + sum(sys.getsizeof(t) for t in (channel, msg_id) if t is not None)
