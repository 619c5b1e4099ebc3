"""A rare slow path: a function whose calls are usually quick but a few take
many times longer — the slow request, the occasional stall. Each finding
names the slowest such call with its stack, where its time went among the
calls it made, and, when the recording has --offcpu, what it waited on."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .facts import IMPORTS, Facts, done
from .finding import Finding, located, severity
from .thresholds import Thresholds

NESTED = 0.8     # a finding whose slow call holds another's slow call, which is this much of its stake: the inner one


def _waits(f: Facts, rows: np.ndarray) -> dict | None:
    """Off-CPU time by reason during these calls (None: recorded without --offcpu)."""
    off = f.offcpu()
    if off is None:
        return None
    ids = f.call_id[rows]
    mine = off.filter(pc.is_in(off["call_id"], value_set=pa.array(ids)))
    waits: Counter = Counter()
    for reason, d in zip(pc.cast(mine["reason"], "string").to_pylist(), mine["duration_ns"].to_pylist()):
        waits[reason] += d
    return dict(waits.most_common())


def _children(f: Facts, row: int) -> list[dict]:
    """Where a call's time went: its direct callees by total time (the top 3)."""
    kids = np.flatnonzero((f.parent == row) & (f.dur >= 0))
    total: Counter = Counter()
    for k in kids.tolist():
        total[int(f.frame[k])] += int(f.dur[k])
    return [dict(f.where(fr), time_ns=ns) for fr, ns in total.most_common(3)]


def detect(f: Facts, t: Thresholds) -> tuple[list[Finding], list[str]]:
    rows = done(f)
    order = rows[np.lexsort((f.dur[rows], f.frame[rows]))]
    frames = f.frame[order]
    bounds = np.flatnonzero(np.diff(frames)) + 1
    found = []
    for group in np.split(order, bounds):
        frame = int(f.frame[group[0]])
        if len(group) < t.slow_min_calls or f.idle[frame] or (f.frames[frame][1] or "").startswith(IMPORTS):
            continue                 # a wait by design, or an import (import-cost's)
        d = f.dur[group]
        median = int(np.median(d))
        slow = group[(d >= t.slow_factor * median) & (d - median >= t.slow_min_ns)]
        if not len(slow) or len(slow) > t.slow_max_share * len(group):
            continue
        stake = int((f.dur[slow] - median).sum())
        if f.share(stake) < t.min_share:
            continue
        found.append((stake, group, slow, median))
    # a slow call that holds another finding's slowest call, which is most of its stake: the inner one explains it
    worst = {id(g): int(s[-1]) for _, g, s, _ in found}
    keep = []
    for stake, group, slow, median in found:
        inside = set(f.within(int(slow[-1])).tolist()) - {int(slow[-1])}
        if any(worst[id(g2)] in inside and s2 >= NESTED * stake for s2, g2, _, _ in found if g2 is not group):
            continue
        keep.append((stake, group, slow, median))
    out, notes = [], []
    for stake, group, slow, median in keep:
        row = int(slow[-1])
        where = f.where(int(f.frame[row]))
        share = f.share(stake)
        waits = _waits(f, f.within(row))
        evidence = {"calls": len(group), "slow_calls": len(slow), "median_ns": median,
                    "slowest": dict(f.call(row), stack=f.stack(row), spent_in=_children(f, row)),
                    "slow_call_ids": [int(x) for x in f.call_id[slow[::-1][:10]]]}
        if waits is None:
            notes.append("recorded without --offcpu: what the slow calls waited on cannot be seen "
                         "(scope run --offcpu)")
        else:
            evidence["slowest"]["off_cpu_ns"] = waits
        out.append(Finding(
            detector="slow-path",
            title=f"{where['function']}: {len(slow):,} of {len(group):,} calls took {t.slow_factor:g}× its median "
                  f"or more (slowest {f.dur[row] / 1e6:.1f} ms, median {median / 1e6:.3f} ms)",
            severity=severity(share, t), where=where, at_stake_ns=stake, share=share, evidence=evidence,
            at=f.at(row),
            why=f"most calls of {located(where)} are quick, so the slow ones took another path: a cache "
                f"miss, a retry, a lock, a rare branch; averages hide it, the callers feel it",
            what_to_try=f"look at the slowest call: scope query DIR --around {int(f.call_id[row])} (or the TUI at "
                        f"{f.seconds(f.start[row]):.3f} s); compare its calls with a median one"))
    return out, sorted(set(notes))
