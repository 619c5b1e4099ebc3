"""GC pressure: the cyclic collector's pauses taking a large share of wall
time, or landing again and again in calls of one function (it allocates the
containers that trigger them)."""
from __future__ import annotations

from collections import Counter

from .. import calltree
from ..stats import pairs
from .facts import Facts
from .finding import Finding, severity
from .thresholds import Thresholds


def detect(f: Facts, t: Thresholds) -> tuple[list[Finding], list[str]]:
    pauses = pairs(f.rec, "gc_start", "gc_done", by_name=False)
    if not pauses:
        return [], []
    total = sum(p["duration_ns"] for p in pauses)
    rows = calltree.running_at(f.pid, f.tid, f.start, f.end, f.parent,
                               [(p["pid"], p["tid"], p["start_ns"]) for p in pauses])
    during: Counter = Counter()
    time_in: Counter = Counter()
    for p, r in zip(pauses, rows.tolist()):
        if r >= 0:
            during[int(f.frame[r])] += 1
            time_in[int(f.frame[r])] += p["duration_ns"]
    top = during.most_common(1)
    frame, n = top[0] if top else (-1, 0)
    same = n >= t.gc_same_calls and f.share(time_in[frame]) >= t.min_share
    share = f.share(total)
    if share < t.gc_share and not same:
        return [], []
    where = f.where(frame) if frame >= 0 else {"function": "(no Python call)", "file": "?", "line": None}
    longest = max(pauses, key=lambda p: p["duration_ns"])
    gens = Counter(p["begin_arg"] for p in pauses)
    return [Finding(
        detector="gc-pressure",
        title=f"GC paused the program {len(pauses):,} times for {total / 1e6:,.1f} ms ({share:.1%} of wall time); "
              f"{n:,} of the pauses during {where['function']}",
        severity=severity(share, t), where=where, at_stake_ns=total, share=share,
        at={"pid": longest["pid"], "tid": longest["tid"], "start_ns": longest["start_ns"],
            "end_ns": longest["start_ns"] + longest["duration_ns"]},
        evidence={"pauses": len(pauses), "total_ns": total, "longest_ns": longest["duration_ns"],
                  "longest_at_s": f.seconds(longest["start_ns"]), "by_generation": {str(g): c for g, c in
                                                                                  sorted(gens.items())},
                  "during": [dict(f.where(fr), pauses=c, time_ns=time_in[fr]) for fr, c in during.most_common(3)],
                  "mean_ns": total // len(pauses)},
        why="each collection stops the thread that triggered it to traverse the tracked objects; many container "
            "allocations trigger them, and a large live heap makes each one long",
        what_to_try="allocate fewer short-lived containers in the hot function; gc.freeze() after start-up "
                    "moves long-lived objects out of the collections; gc.set_threshold() to collect less often")], []
