"""The hot tier: the newest rows in memory as Arrow tables, before they reach a
warm segment — what live readers (`scope query --live`, the TUI's live mode)
see beyond the disk, and all a flight recorder keeps.

Bounded by rows and bytes (the writer rolls a segment when either is reached)
and, for a flight recorder, by a time window: whole batches older than the
window are evicted, and every evicted row is counted, never lost silently.
"""
from __future__ import annotations

from collections import deque

import pyarrow as pa
import pyarrow.compute as pc

# the column that places a row in time, per table
TIME = {"events": "ts", "calls": "end_ns"}


class HotTier:
    def __init__(self, schemas: dict[str, pa.Schema], *, window_ns: int | None = None,
                 max_bytes: int | None = None) -> None:
        self.schemas = schemas
        self.window_ns = window_ns
        self.max_bytes = max_bytes      # held rows beyond it are evicted, oldest first (flight recorder)
        self.evicted_until_ns = 0       # the newest time an eviction reached
        self._parts: dict[str, deque[pa.Table]] = {k: deque() for k in schemas}
        self.rows = {k: 0 for k in schemas}
        self.bytes = {k: 0 for k in schemas}
        self.evicted = {k: 0 for k in schemas}
        self.newest_ns = 0

    def add(self, kind: str, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self._parts[kind].append(table)
        self.rows[kind] += table.num_rows
        self.bytes[kind] += table.nbytes
        col = TIME.get(kind)
        if self.window_ns is not None and col is not None:   # only a window needs the newest time
            newest = pc.max(table[col]).as_py()
            if newest is not None and newest > self.newest_ns:
                self.newest_ns = newest
            self.evict_before(self.newest_ns - self.window_ns)
        if self.max_bytes is not None:
            for k in [k for k in ("events", "calls") if k in self._parts]:
                while self.total_bytes() > self.max_bytes and len(self._parts[k]) > 1:
                    self._evict_first(k)

    def evict_before(self, cutoff_ns: int) -> None:
        """Drop whole batches whose every row is older than cutoff (calls: ended before it)."""
        for kind, parts in self._parts.items():
            col = TIME.get(kind)
            if col is None:
                continue
            while parts:
                newest = pc.max(parts[0][col]).as_py()
                if newest is None or newest >= cutoff_ns:
                    break
                self._evict_first(kind)

    def _evict_first(self, kind: str) -> None:
        gone = self._parts[kind].popleft()
        self.rows[kind] -= gone.num_rows
        self.bytes[kind] -= gone.nbytes
        self.evicted[kind] += gone.num_rows
        newest = pc.max(gone[TIME[kind]]).as_py()
        if newest is not None and kind == "events":
            self.evicted_until_ns = max(self.evicted_until_ns, newest)

    def snapshot(self, kind: str) -> pa.Table:
        """Every row held (the tables are immutable: a cheap copy of references)."""
        parts = list(self._parts[kind])
        return pa.concat_tables(parts) if parts else self.schemas[kind].empty_table()

    def take(self, kind: str) -> pa.Table:
        """Every row held, handed out and forgotten (to a warm segment)."""
        table = self.snapshot(kind)
        self._parts[kind].clear()
        self.rows[kind] = self.bytes[kind] = 0
        return table

    def total_bytes(self) -> int:
        return sum(self.bytes.values())
