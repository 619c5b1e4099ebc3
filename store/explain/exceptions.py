"""Exceptions as control flow: a function that raises thousands of times,
almost always caught by its caller — a raise and catch costs far more than a
return, and hides the normal path."""
from __future__ import annotations

from collections import Counter

import numpy as np

from scope import kinds

from .facts import Facts
from .finding import Finding, located, severity
from .thresholds import Thresholds


def detect(f: Facts, t: Thresholds) -> tuple[list[Finding], list[str]]:
    raised = np.flatnonzero(f.status == kinds.RAISED)
    if not len(raised):
        return [], []
    frames, counts = np.unique(f.frame[raised], return_counts=True)
    out = []
    for frame in frames[counts >= t.raise_calls]:
        rows = raised[f.frame[raised] == frame]
        up = f.parent[rows]
        caught = (up >= 0) & (f.status[np.maximum(up, 0)] != kinds.RAISED)
        share_caught = float(caught.mean())
        if share_caught < t.raise_caught_share:
            continue
        stake = int(f.dur[rows][f.dur[rows] >= 0].sum())
        share = f.share(stake)
        where = f.where(int(frame))
        types = Counter(f.exception[r] for r in rows.tolist() if f.exception[r]).most_common(3)
        catchers = Counter(int(f.frame[p]) for p in up[caught].tolist()).most_common(3)
        named = f" ({', '.join(name for name, _ in types)})" if types else ""
        out.append(Finding(
            detector="exceptions",
            title=f"{where['function']} raised {len(rows):,} times{named}; {share_caught:.0%} caught by "
                  f"its caller",
            severity="low" if share < t.medium_share else severity(share, t), where=where, at_stake_ns=stake,
            share=share, at=f.at(int(rows[0])),
            evidence={"raised": len(rows), "caught": int(caught.sum()),
                      # CPython 3.11's profile hook does not say which exception ended a frame
                      "exceptions": [{"type": name, "count": n} for name, n in types] or "type not recorded",
                      "caught_by": [dict(f.where(c), count=n) for c, n in catchers],
                      "raising_calls_time_ns": stake, "first": f.call(int(rows[0]))},
            why=f"{located(where)} ends by raising on most calls and its callers catch it: raising and catching "
                f"costs far more than returning, on every call, and the exception is the normal path",
            what_to_try="return a value for the expected case (None, a default, a sentinel; dict.get rather "
                        "than catching KeyError), or check first; keep raising for what is exceptional"))
    return out, []
