"""Lock contention (recordings made with --offcpu): time two threads or more
spent off CPU waiting on a lock (a futex) in one Python function — the usual
waiting frames (a join, a queue's get) aside.

The GIL is a lock too: a thread waiting for it sleeps on a futex, but wakes
at every switch interval (5 ms) to ask for it again, so no single GIL wait
lasts longer. Waits longer than ``gil_wait_max_ns`` are therefore on another
lock; shorter ones may be either, and are counted apart."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import calltree
from .facts import Facts
from .finding import Finding, located, severity
from .thresholds import Thresholds

NO_OFFCPU = "recorded without --offcpu: lock waits cannot be seen (record with scope run/attach --offcpu)"


def detect(f: Facts, t: Thresholds) -> tuple[list[Finding], list[str]]:
    off = f.offcpu()
    if off is None:
        return [], [NO_OFFCPU]
    off = off.filter(pc.equal(pc.cast(off["reason"], pa.string()), "lock"))
    if not off.num_rows:
        return [], []
    call = pc.fill_null(off["call_id"], -1).to_numpy(zero_copy_only=False).astype(np.int64)
    row = calltree.parent_rows(f.call_id, call)          # each wait's call among the calls (-1: none)
    dur = off["duration_ns"].to_numpy(zero_copy_only=False).astype(np.int64)
    tid = off["tid"].to_numpy(zero_copy_only=False)
    pid = off["pid"].to_numpy(zero_copy_only=False)
    start = off["start_ns"].to_numpy(zero_copy_only=False)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(row.tolist()):
        groups[int(f.frame[r]) if r >= 0 else -1].append(i)
    out = []
    for frame, idx in groups.items():
        if frame >= 0 and f.idle[frame]:
            continue                 # a join, a queue's get: waiting on purpose, not contending
        idx = np.array(idx)
        long = idx[dur[idx] > t.gil_wait_max_ns]
        threads = sorted({int(x) for x in tid[long]})
        stake = int(dur[long].sum())
        # waits summed over threads: a share of those threads' time together
        share = round(stake / (f.wall_ns * len(threads)), 4) if f.wall_ns and threads else 0.0
        if len(threads) < 2 or share < t.lock_share:
            continue
        where = f.where(frame) if frame >= 0 else {"function": "(no Python call)", "file": "?", "line": None}
        worst = int(long[np.argmax(dur[long])])
        out.append(Finding(
            detector="lock-contention",
            title=f"{len(threads)} threads waited {stake / 1e6:,.1f} ms on a lock in {where['function']} "
                  f"({share:.0%} of their time)",
            severity=severity(share, t), where=where, at_stake_ns=stake, share=share,
            share_of=f"the {len(threads)} threads' wall time",
            at={"pid": int(pid[worst]), "tid": int(tid[worst]), "start_ns": int(start[worst]),
                "end_ns": int(start[worst]) + int(dur[worst])},
            evidence={"threads": threads, "waits": len(long), "wait_ns": stake,
                      "longest": {"tid": int(tid[worst]), "start_s": f.seconds(int(start[worst])),
                                  "duration_ns": int(dur[worst]), "call_id": int(call[worst])},
                      "short_waits_maybe_gil": int(len(idx) - len(long)),
                      "short_wait_ns_maybe_gil": int(dur[idx].sum()) - stake},
            why=f"threads running {located(where)} spent this time asleep waiting for a lock another thread "
                f"held (each wait longer than the GIL's switch interval, so not the GIL's): the work they "
                f"share is serialized",
            what_to_try="hold the lock for less (move work out of the critical section), split it (one lock "
                        "per resource), or hand work to one owner through a queue; scope query DIR --offcpu "
                        "lists the waits"))
    return out, []
