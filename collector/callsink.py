"""Finished calls, from the correlator to the recording's calls segments.

Each batch the correlator hands out (drain) gets the session's cuts (calls
shorter than --min-duration that the shim could not hold back, --function and
--exclude), the gap marks of --max-overhead, and is written as one segment.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..store.build import calls_table
from .shmring import stood_for
from .tables import filtered_calls, mark_gaps, select_calls, short_calls

INDEX = ("call_id", "parent_id", "pid", "tid", "start_ns", "end_ns")


class CallSink:
    def __init__(self, writer, *, min_duration_ns: int = 0, call_filters: list[str] | None = None,
                 keep_index: bool = False) -> None:
        self.writer = writer
        self.min_duration_ns = min_duration_ns
        self.call_filters = list(call_filters or [])
        self.keep_index = keep_index       # --offcpu/--syscalls attribute to calls at the end
        self.statuses: Counter = Counter()
        self._index: list[dict] = []

    def write(self, cols: dict, names: dict[tuple[int, int], str], gaps: list[dict],
              first_line: dict[int, int] | None = None) -> None:
        """names: (pid, code id) -> function; gaps: the ended capture gaps;
        first_line: the correlator's, for the events of rows cut here (a row
        cut by a filter hands the events it stood for back to `events`, where
        they were recorded: shmring.stood_for)."""
        if not len(cols["call_id"]):
            return
        gone = np.zeros(len(cols["call_id"]), bool)
        if self.min_duration_ns:
            gone |= short_calls(cols, self.min_duration_ns)
        if self.call_filters:
            gone |= filtered_calls(cols, names, self.call_filters)
        cols = mark_gaps(self.cut(cols, gone, first_line), gaps)
        self.statuses.update(cols["status"])
        if self.keep_index:
            self._index.append({k: cols[k] for k in INDEX})
        self.writer.add_calls(calls_table(cols, names))

    def cut(self, cols: dict, gone: np.ndarray, first_line: dict[int, int] | None) -> dict:
        """``cols`` without the rows ``gone`` marks (the same object when none
        is): the events those rows stood for go to `events`, where they were
        recorded (shmring.stood_for), so each stays stored or counted."""
        if not gone.any():
            return cols
        self.writer.add_events(stood_for(select_calls(cols, gone), first_line or {}))
        return select_calls(cols, ~gone)

    def index(self) -> dict:
        """(ids, threads, times) of every call written, for attribution."""
        parts = self._index or [{k: np.zeros(0, np.int64) for k in INDEX}]
        return {k: np.concatenate([p[k] for p in parts]) for k in INDEX}
