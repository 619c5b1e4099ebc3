"""What telling same-named functions apart costs the collector (collector/identity.py).

- Reading sources: the definitions of 100 standard-library files, read and
  parsed in the helper process as the target's user (what a marker-path
  recording does once per file), against compiling the same files in-process
  (what the interpreter did once to import them): the ratio.
- Per poll: `Identity.apply` on 1 M call/return records of which 1 in 4 is of
  a split name, against the copy of the same records it cannot avoid.
"""
from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from scope import kinds
from scope.collector.identity import Identity
from scope.collector.shmring import EVENT
from scope.collector.sourcedefs import definitions
from scope.collector.sources import Place, read_definitions

STDLIB = Path(sysconfig.get_paths()["stdlib"])
FILES = sorted(str(p) for p in STDLIB.glob("*.py"))[:100]


@pytest.fixture(scope="module")
def place():
    held = Place.of(os.getpid())
    yield held
    held.close()


def test_reading_sources(benchmark, place):
    result = benchmark.pedantic(lambda: read_definitions(place, FILES, timeout=60), rounds=3, iterations=1)
    assert all(isinstance(v, dict) for v in result.values())
    benchmark.extra_info["files"] = len(FILES)
    benchmark.extra_info["bytes"] = sum(os.path.getsize(f) for f in FILES)


def test_compiling_the_same_sources_baseline(benchmark):
    texts = [Path(f).read_bytes() for f in FILES]
    benchmark.pedantic(lambda: [compile(t, "x", "exec") for t in texts], rounds=3, iterations=1)


def _split_identity() -> tuple[Identity, np.ndarray]:
    source = "\n".join(f"class C{i}:\n    def __init__(self):\n        pass\n" for i in range(20))
    defs = definitions(source)

    def reader(place, files, timeout):
        return {f: defs for f in files}
    ident = Identity(reader=reader)
    ident.hold(1, Place.of(os.getpid()))
    ident.learn([{"code_id": 0x100, "pid": 1, "kind": "code", "file": "/app.py", "function": "__init__",
                  "qualname": "__init__", "truncated": False, "image": 0}])
    n = 1_000_000
    ev = np.zeros(n, EVENT)
    ev["pid"], ev["tid"] = 1, 1
    ev["kind"] = np.where(np.arange(n) % 2, kinds.RETURN, kinds.CALL)
    ev["code"] = np.where(np.arange(n) % 4 == 0, 0x100, 0x200)
    ev["line"] = 2 + 3 * (np.arange(n) % 20)        # each in one __init__
    return ident, ev


def test_apply_per_poll(benchmark):
    ident, ev = _split_identity()
    out, _ = benchmark(ident.apply, ev)
    assert (out["code"] != 0x100).sum() == len(ev)        # every split record resolved


def test_copy_per_poll_baseline(benchmark):
    _, ev = _split_identity()
    benchmark(ev.copy)
