"""Serialized awaits: a coroutine awaiting operations one after another, each
mostly waiting — where, if they do not depend on each other, asyncio.gather
(or a TaskGroup) would wait for them at once.

In a task, a coroutine's call row spans its awaits and its self time is only
the time it ran (docs/commands.md, "asyncio tasks"); so a child call in the
same task that waited is one whose time is mostly not its subtree's running
time. Awaits gathered run as tasks of their own: they are not children in the
parent's task, and this detector does not see them."""
from __future__ import annotations

import numpy as np

from .. import calltree
from .facts import Facts, done
from .finding import Finding, located, severity
from .thresholds import Thresholds


def _running(f: Facts) -> np.ndarray:
    """Each row's running time: the self time of its subtree within its task."""
    run = np.where(f.self_ns >= 0, f.self_ns, 0).astype(np.int64)
    _, depth = calltree.untangle(f.parent)
    same = (f.parent >= 0) & (f.task >= 0) & (f.task == f.task[np.maximum(f.parent, 0)])
    for d in range(int(depth.max(initial=0)), 0, -1):      # deepest first: a child's sum is whole when added
        rows = np.flatnonzero((depth == d) & same)
        np.add.at(run, f.parent[rows], run[rows])
    return run


def detect(f: Facts, t: Thresholds) -> tuple[list[Finding], list[str]]:
    rows = done(f)
    rows = rows[(f.task[rows] >= 0) & (f.parent[rows] >= 0)]
    rows = rows[f.task[rows] == f.task[f.parent[rows]]]
    if not len(rows):
        return [], []
    waited = f.dur - _running(f)
    awaited = rows[(waited[rows] >= t.await_min_ns) & (waited[rows] >= 0.5 * f.dur[rows])]
    by_parent: dict[int, list[int]] = {}
    for r in awaited[np.argsort(f.start[awaited], kind="stable")].tolist():
        by_parent.setdefault(int(f.parent[r]), []).append(r)
    groups: dict[int, list[tuple[int, list[int]]]] = {}
    for p, kids in by_parent.items():
        total = int(waited[kids].sum())
        if len(kids) >= t.await_serial and f.dur[p] > 0 and total >= 0.5 * f.dur[p]:
            groups.setdefault(int(f.frame[p]), []).append((p, kids))
    out = []
    for frame, hits in groups.items():
        # at best, awaited together, each parent would wait as long as its longest await
        stake = sum(int(waited[kids].sum() - waited[kids].max()) for _, kids in hits)
        share = f.share(stake)
        if share < t.min_share or len(hits) < t.repeat_parents:     # a driver's loop, run once: not the pattern
            continue
        p, kids = max(hits, key=lambda h: int(waited[h[1]].sum()))
        where = f.where(frame)
        names = [f.frames[f.frame[k]][0] or "?" for k in kids]
        out.append(Finding(
            detector="serialized-awaits",
            title=f"{where['function']} awaited {len(kids)} operations one after another "
                  f"({waited[kids].sum() / 1e6:,.1f} ms waiting); together they could take "
                  f"{waited[kids].max() / 1e6:,.1f} ms; {len(hits):,} such calls",
            severity=severity(share, t), where=where, at_stake_ns=stake, share=share, at=f.at(p),
            evidence={"calls": len(hits), "awaits": [dict(f.where(int(f.frame[k])), waited_ns=int(waited[k]),
                                                          start_s=f.seconds(f.start[k])) for k in kids[:10]],
                      "worst": dict(f.call(p), task=int(f.task[p]), stack=f.stack(p)),
                      "awaited": sorted(set(names))},
            why=f"{located(where)} waits for each operation before starting the next: its time is the sum of "
                f"their waits where, independent, they would cost the longest one",
            what_to_try="if the operations do not need each other's results, start them together: "
                        "await asyncio.gather(...) or an asyncio.TaskGroup; scope query DIR --tasks shows "
                        "each task's waiting"))
    return out, []
