"""--max-overhead held to its promise? The call-heavy workload at three lengths
(30 M, 121 M and 293 M calls: about 1, 4 and 9 s untraced on the project VM),
each untraced and under `scope run --max-overhead 5`, alternately in
the same session; the figure is the workload's own hot-loop time, best of
ROUNDS, and the slowdown (traced / untraced - 1) is printed beside the cap.

    .venv/bin/python -m pytest bench/test_governor.py --benchmark-only -s

No timing is asserted (a benchmark, not a test); every recording is checked
to be paused (gaps) and loss-free.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PY = "/usr/bin/python3.11"
WORKLOAD = str(Path(__file__).parent / "workloads" / "callheavy.py")
CAP = 5.0
ROUNDS = 3
# workload rounds (101 calls each)
LENGTHS = {"30M-calls": 300_000, "121M-calls": 1_200_000, "293M-calls": 2_900_000}
ROWS: list[tuple] = []


def hot_seconds(cmd: list[str]) -> float:
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(next(line for line in out.stdout.splitlines() if line.startswith("{")))["seconds"]


CASES = [(length, shim) for shim in (True, False) for length in LENGTHS]


@pytest.mark.parametrize("length,shim", CASES, ids=[f"{n}-{'ring' if s else 'uprobes'}" for n, s in CASES])
def test_max_overhead_against_its_cap(benchmark, tmp_path, length, shim):
    rounds = str(LENGTHS[length])
    base, governed, metas = [], [], []

    def once():
        k = len(governed)
        base.append(hot_seconds([PY, WORKLOAD, rounds]))
        out = tmp_path / f"rec{k}"
        governed.append(hot_seconds([sys.executable, "-m", "scope", "run", "--max-overhead", str(CAP),
                                     *([] if shim else ["--no-shim"]), "-o", str(out), "--",
                                     PY, WORKLOAD, rounds]))
        metas.append(json.loads((out / "session.json").read_text()))

    benchmark.pedantic(once, rounds=ROUNDS, iterations=1)
    for meta in metas:
        assert meta["gaps"] and sum(meta["drops"].values()) == 0
    slowdown = (min(governed) / min(base) - 1) * 100
    estimate = metas[-1]["governor"]["estimated_overhead"] * 100
    benchmark.extra_info.update(untraced_s=round(min(base), 3), governed_s=round(min(governed), 3),
                                slowdown_pct=round(slowdown, 1), cap_pct=CAP, estimate_pct=round(estimate, 1))
    ROWS.append((length, "ring" if shim else "uprobes", min(base), min(governed), slowdown, estimate))
    print(f"\n{length:>10} {'ring' if shim else 'uprobes':8} untraced {min(base):.3f} s, --max-overhead {CAP:g}: "
          f"{min(governed):.3f} s -> {slowdown:+.1f} % (cap {CAP:g} %; scope's own estimate {estimate:.1f} %)")
