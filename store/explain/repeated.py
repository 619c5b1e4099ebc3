"""Repeated work: one call making many calls of the same callee that together
are most of its time — the N+1 shape (a query, a request, a lookup per item
where one for all would do)."""
from __future__ import annotations

import numpy as np

from .facts import Facts, done
from .finding import Finding, located, severity
from .thresholds import Thresholds

# frames that are a loop's body rather than a call a programmer made: the loop
# belongs to the function around them (CPython before 3.12 runs comprehensions
# and generator expressions as functions of their own)
INLINE = (".<listcomp>", ".<genexpr>", ".<dictcomp>", ".<setcomp>", "<listcomp>", "<genexpr>", "<dictcomp>",
          "<setcomp>")


def owners(f: Facts, rows: np.ndarray) -> np.ndarray:
    """Each row's caller, past comprehension and generator-expression frames."""
    inline = np.array([bool(fn) and fn.endswith(INLINE) for fn, _, _ in f.frames] or [False])
    up = f.parent[rows].copy()
    for _ in range(8):                      # comprehensions nest a few deep at most
        step = (up >= 0) & inline[f.frame[np.maximum(up, 0)]]
        if not step.any():
            break
        up[step] = f.parent[up[step]]
    return up


def detect(f: Facts, t: Thresholds) -> tuple[list[Finding], list[str]]:
    rows = done(f)
    owner = owners(f, rows)
    rows, owner = rows[owner >= 0], owner[owner >= 0]
    if not len(rows):
        return [], []
    nframes = len(f.frames)
    key = owner * nframes + f.frame[rows]
    uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    totals = np.bincount(inverse, weights=f.dur[rows]).astype(np.int64)
    groups: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for k in np.flatnonzero(counts >= t.repeat_calls):
        p, callee = divmod(int(uniq[k]), nframes)
        if f.dur[p] > 0 and totals[k] >= t.repeat_parent_share * f.dur[p]:
            groups.setdefault((int(f.frame[p]), callee), []).append((p, int(counts[k]), int(totals[k])))
    out = []
    for (pframe, callee), hits in groups.items():
        stake = sum(total for _, _, total in hits)
        share = f.share(stake)
        if share < t.min_share or len(hits) < t.repeat_parents:
            continue
        p, n, total = max(hits, key=lambda h: h[2])
        parent, child = f.where(pframe), f.where(callee)
        of_parent = round(total / f.dur[p], 3)
        calls = sum(c for _, c, _ in hits)
        out.append(Finding(
            detector="repeated-work",
            title=f"{child['function']} called {n:,} times by one {parent['function']} call "
                  f"({of_parent:.0%} of its time); {len(hits):,} such {parent['function']} calls",
            severity=severity(share, t), where=parent, at_stake_ns=stake, share=share, at=f.at(p),
            evidence={"parent": parent, "callee": child, "parent_calls": len(hits), "callee_calls": calls,
                      "callee_time_ns": stake, "mean_callee_ns": stake // max(calls, 1),
                      "worst": dict(f.call(p), callee_calls=n, callee_time_ns=total, share_of_parent=of_parent,
                                    stack=f.stack(p))},
            why=f"each call of {located(child)} costs its own overhead (a round trip, a lookup, a setup); "
                f"made {n:,} times inside one {parent['function']} call, together they are most of its time",
            what_to_try=f"do the work for all items in one call (a batch query, a bulk API, one lookup "
                        f"before the loop), or cache what repeats; scope query DIR --function "
                        f"'{child['function']}' --since {f.seconds(f.start[p]):.3f} lists the calls"))
    return out, []
