"""Import cost: imports that take a large share of the run at top level
(start-up), or one that runs inside a function call — a lazy import the
first caller pays for, in the middle of its work."""
from __future__ import annotations

from .. import calltree
from ..stats import pairs
from .facts import Facts
from .finding import Finding, located, severity
from .thresholds import Thresholds

MODULE = "<module>"


def _outermost(imports: list[dict]) -> list[dict]:
    """The imports no other import on their thread encloses."""
    out = []
    for imp in sorted(imports, key=lambda i: (i["pid"], i["tid"], i["start_ns"], -i["duration_ns"])):
        last = out[-1] if out else None
        if last and (last["pid"], last["tid"]) == (imp["pid"], imp["tid"]) and \
                imp["start_ns"] + imp["duration_ns"] <= last["start_ns"] + last["duration_ns"]:
            continue
        out.append(imp)
    return out


def _ours(f: Facts, imports: list[dict]) -> list[dict]:
    """scope's own imports in its target (its shim, and the sitecustomize `scope run`
    preloads it by): not the program's cost."""
    files = [fl or "" for _, fl, _ in f.frames]
    booted = any(fl.endswith("/boot/sitecustomize.py") for fl in files)
    return [i for i in imports if i["name"].startswith("scope_shim") or (booted and i["name"] == "sitecustomize")]


def _within(inner: dict, outer: dict) -> bool:
    return (inner["pid"], inner["tid"]) == (outer["pid"], outer["tid"]) and \
        outer["start_ns"] <= inner["start_ns"] and \
        inner["start_ns"] + inner["duration_ns"] <= outer["start_ns"] + outer["duration_ns"]


def detect(f: Facts, t: Thresholds) -> tuple[list[Finding], list[str]]:
    every = pairs(f.rec, "import_start", "import_done", by_name=True)
    ours = _outermost(_ours(f, every))
    imports = []
    for imp in _outermost(every):
        if any(o is imp for o in ours):
            continue
        inside = sum(o["duration_ns"] for o in ours if _within(o, imp))
        imports.append(dict(imp, duration_ns=imp["duration_ns"] - inside))   # site less scope's boot
    if not imports:
        return [], []
    rows = calltree.running_at(f.pid, f.tid, f.start, f.end, f.parent,
                               [(i["pid"], i["tid"], i["start_ns"]) for i in imports])
    top, inside = [], []
    for imp, r in zip(imports, rows.tolist()):
        if r >= 0 and f.frames[f.frame[r]][0] != MODULE:
            inside.append((imp, r))
        else:
            top.append(imp)
    out = []
    total = sum(i["duration_ns"] for i in top)
    share = f.share(total)
    if top and share >= t.import_share:
        slowest = sorted(top, key=lambda i: -i["duration_ns"])[:5]
        first = slowest[0]
        out.append(Finding(
            detector="import-cost",
            title=f"imports took {total / 1e6:,.1f} ms at start-up ({share:.0%} of wall time); the slowest, "
                  f"{first['name']}, {first['duration_ns'] / 1e6:,.1f} ms",
            severity=severity(share, t), where={"function": MODULE, "file": "?", "line": None},
            at_stake_ns=total, share=share,
            at={"pid": first["pid"], "tid": first["tid"], "start_ns": first["start_ns"],
                "end_ns": first["start_ns"] + first["duration_ns"]},
            evidence={"imports": len(top), "total_ns": total,
                      "slowest": [{"module": i["name"], "duration_ns": i["duration_ns"],
                                   "start_s": f.seconds(i["start_ns"])} for i in slowest]},
            why="every run pays for its imports before doing any work: a command-line tool's, a worker's, a "
                "serverless function's start-up",
            what_to_try="import the slowest modules only where they are needed (a lazy import, outside any hot "
                        "path), import less of a package, or check what the module does at import (I/O, "
                        "compiling, network)"))
    for imp, r in inside:
        if imp["duration_ns"] < t.import_in_call_ns:
            continue
        where = f.where(int(f.frame[r]))
        stake = imp["duration_ns"]
        out.append(Finding(
            detector="import-cost",
            title=f"import of {imp['name']} inside {where['function']} took {stake / 1e6:,.1f} ms",
            severity=severity(f.share(stake), t), where=where, at_stake_ns=stake, share=f.share(stake),
            at={"pid": imp["pid"], "tid": imp["tid"], "start_ns": imp["start_ns"],
                "end_ns": imp["start_ns"] + imp["duration_ns"]},
            evidence={"module": imp["name"], "duration_ns": stake, "start_s": f.seconds(imp["start_ns"]),
                      "call": dict(f.call(r), stack=f.stack(r))},
            why=f"the call of {located(where)} that first ran the import waited for it in the middle of its "
                f"work (the first request, the first event), an outlier no profile of later calls shows",
            what_to_try=f"import {imp['name']} at start-up (or warm it up before serving), or make the module "
                        f"cheaper to import"))
    return out, []
