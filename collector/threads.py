"""Track the threads seen in a recording (first/last event, count, name)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..store import schema


def _thread_name(pid: int, tid: int) -> str:
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""


class ThreadTracker:
    def __init__(self) -> None:
        self._rows: dict[tuple[int, int], list] = {}

    def feed(self, ev: np.ndarray) -> None:
        if not len(ev):
            return
        keys = (ev["pid"].astype(np.int64) << 32) | ev["tid"].astype(np.int64)
        uniq, first_idx, counts = np.unique(keys, return_index=True, return_counts=True)
        for key, first, count in zip(uniq.tolist(), first_idx.tolist(), counts.tolist()):
            pid, tid = key >> 32, key & 0xFFFFFFFF
            mask = keys == key
            ts = ev["ts"][mask]
            row = self._rows.get((pid, tid))
            if row is None:
                self._rows[(pid, tid)] = [pid, tid, _thread_name(pid, tid),
                                          int(ts.min()), int(ts.max()), count]
            else:
                row[3] = min(row[3], int(ts.min()))
                row[4] = max(row[4], int(ts.max()))
                row[5] += count

    def __len__(self) -> int:
        return len(self._rows)

    def table(self) -> pa.Table:
        rows = sorted(self._rows.values())
        cols = list(zip(*rows)) if rows else [[]] * 6
        return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema.THREADS)],
                                    schema=schema.THREADS)
