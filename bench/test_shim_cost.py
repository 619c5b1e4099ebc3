"""Cost of a shim API call while no collector is attached, against an empty Python call.

Run in-process (the benchmark's interpreter is Debian's python3.11 through the
venv); the shim is built for it. Ratios are in extra_info["vs_empty_call"].
"""
from __future__ import annotations

import sys

import pytest

from scope.probes.shim import build_shim

sys.path.insert(0, str(build_shim(sys.executable)))
import scope_shim

N = 1000
BASE: dict[str, float] = {}


def empty(*args, **kwargs):
    return None


def loop_empty():
    for _ in range(N):
        empty("name", a=1)


def loop_mark():
    for _ in range(N):
        scope_shim.mark("name", a=1)


def loop_state():
    for _ in range(N):
        scope_shim.state("name", 1)


def loop_send():
    for _ in range(N):
        scope_shim.send("channel", 1)


def loop_span():
    span = scope_shim.span
    for _ in range(N):
        with span("name"):
            pass


CASES = {"empty_call": loop_empty, "mark": loop_mark, "state": loop_state, "send": loop_send,
         "span_with": loop_span}


@pytest.mark.parametrize("case", list(CASES))
def test_api_call_cost_without_collector(benchmark, case):
    benchmark.pedantic(CASES[case], rounds=200, iterations=5, warmup_rounds=20)
    per_call = benchmark.stats.stats.min / N * 1e9
    BASE[case] = per_call
    benchmark.extra_info["ns_per_call"] = round(per_call, 1)
    if "empty_call" in BASE:
        benchmark.extra_info["vs_empty_call"] = round(per_call / BASE["empty_call"], 2)
