"""Hot spots: the functions whose own code (self time: their time less their
callees') takes the most of all self time. Where the time goes, not by itself
a problem: always severity low, listed after the problems."""
from __future__ import annotations

import numpy as np

from .facts import IMPORTS, Facts, done
from .finding import Finding, located
from .thresholds import Thresholds


def detect(f: Facts, t: Thresholds) -> tuple[list[Finding], list[str]]:
    rows = done(f)
    rows = rows[f.self_ns[rows] >= 0]
    if not len(rows):
        return [], []
    by_frame = np.bincount(f.frame[rows], weights=f.self_ns[rows], minlength=len(f.frames))
    calls = np.bincount(f.frame[rows], minlength=len(f.frames))
    total = float(by_frame.sum())
    by_frame[f.idle[: len(by_frame)]] = 0          # a join's or a queue's wait is not where work goes
    for frame, (_, file, _) in enumerate(f.frames):
        if (file or "").startswith(IMPORTS):
            by_frame[frame] = 0                     # the import system's own: import-cost's to report
    out = []
    for frame in np.argsort(-by_frame)[:t.hot_max]:
        ns = int(by_frame[frame])
        of_self = ns / total if total else 0.0
        if of_self < t.hot_share:
            break
        if f.share(ns) < t.min_share:
            continue
        where = f.where(int(frame))
        mine = rows[f.frame[rows] == frame]
        out.append(Finding(
            detector="hot-spots",
            title=f"{where['function']}: {of_self:.0%} of all self time ({ns / 1e6:,.1f} ms in {int(calls[frame]):,} "
                  f"calls)",
            severity="low", where=where, at_stake_ns=ns, share=round(of_self, 4), share_of="all self time",
            at=f.at(int(mine[np.argmax(f.dur[mine])])),     # its longest call
            evidence={"self_ns": ns, "share_of_self_time": round(of_self, 4), "calls": int(calls[frame]),
                      "mean_self_ns": ns // max(int(calls[frame]), 1)},
            why=f"time in {located(where)}'s own code, not in what it calls: making it cheaper, or calling it "
                f"less, is where time is won",
            what_to_try=f"scope query DIR --function '{where['function']}' --top; scope export DIR (a flame graph) "
                        f"shows who calls it"))
    return out, []
