"""What a question selects: a process, a thread, functions and files by glob,
event kinds, a time range, scope's own frames and the usual idle frames.

`Filters` is the value the CLI and the TUI build; `mask` applies it to rows of
any table with pid, tid, code_id and a time column. Pure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import UsageError
from ..units import MAX_SECONDS, TIME_FIX, offset_ns, wall_ns
from .names import matching, row_keys, scope_code
from .reader import Recording
from .waits import idle_code


@dataclass(frozen=True)
class Filters:
    pid: int | None = None
    tid: int | None = None
    function: str | None = None   # glob on the function (or module/audit) name
    file: str | None = None       # glob on the file path
    kinds: tuple[str, ...] = ()
    since: str | None = None      # seconds from start, or ISO wall time
    until: str | None = None
    scope_frames: bool = False    # also scope's own code (hidden by default: `scope_code`)
    hide_idle: bool = False       # leave out the usual waiting frames (store/waits.py IDLE)

    def code_keys(self, code: pa.Table) -> pa.Array | None:
        """The (pid, code id) keys the function/file globs select (None: all)."""
        return matching(code, self.function, self.file)


def exact_glob(name: str) -> str:
    """A glob that matches exactly this name (its * ? [ taken literally)."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in name)


def parse_time(text: str, rec: Recording) -> int:
    """Monotonic ns for ``text``: seconds from the start, or an ISO wall-clock time
    (scope.units reads both and bounds them); a time more than MAX_SECONDS
    away from the recording is refused (UsageError), never an int64 overflow."""
    offset = offset_ns(text)
    if offset is not None:
        return rec.start_ns + offset
    mono, real = rec.anchor
    away = wall_ns(text) - real
    if abs(away) > MAX_SECONDS * 10**9:
        raise UsageError(f"time {text!r} lies more than {MAX_SECONDS:,} s from the recording", TIME_FIX)
    return mono + away


def bounds(f: Filters, rec: Recording) -> tuple[int | None, int | None]:
    """--since/--until as monotonic ns (None: open), for pruning through the catalog."""
    return (None if f.since is None else parse_time(f.since, rec),
            None if f.until is None else parse_time(f.until, rec))


def mask(t: pa.Table, f: Filters, keys: pa.Array | None, ts: pa.ChunkedArray, rec: Recording):
    """Which rows of ``t`` the filters keep (kinds aside: tables differ in how
    they hold them). ``keys``: ``f.code_keys(rec.code())``, computed once by the
    caller; ``ts``: the time column the range applies to."""
    out = pa.array(np.ones(len(t), dtype=bool))
    hidden = [] if f.scope_frames else [rec.from_code(scope_code)]
    if f.hide_idle:
        hidden.append(rec.from_code(idle_code))
    rows = row_keys(t) if keys is not None or any(len(h) for h in hidden) else None   # once, if needed
    for h in hidden:
        if len(h):
            out = pc.and_(out, pc.invert(pc.fill_null(pc.is_in(rows, value_set=h), False)))
    if f.pid is not None:
        out = pc.and_(out, pc.equal(t["pid"], f.pid))
    if f.tid is not None:
        out = pc.and_(out, pc.equal(t["tid"], f.tid))
    if keys is not None:
        out = pc.and_(out, pc.is_in(rows, value_set=keys))
    if f.since is not None:
        out = pc.and_kleene(out, pc.greater_equal(ts, parse_time(f.since, rec)))
    if f.until is not None:
        out = pc.and_kleene(out, pc.less_equal(ts, parse_time(f.until, rec)))
    return pc.fill_null(out, False)
