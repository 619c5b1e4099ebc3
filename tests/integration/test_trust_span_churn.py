"""A target that begins spans it never ends and sends messages nobody receives
cannot grow scope's memory without bound (collector/app.py, collector/bounds.py).

The target (tests/targets/span_leak.py, run as nobody) leaks one span and one
unreceived message (long names and ids) every iteration, and ends a span ("done")
every tenth.
Before the bounds the collector held every open span and every unmatched
send until the recording finished. Now past ``SCOPE_SPANS_OPEN_MAX`` the
oldest open span is let go (``spans_open_evicted``), past
``SCOPE_MESSAGE_SENDS_MAX_BYTES`` the oldest send waiting
(``message_sends_evicted``), and past ``SCOPE_MESSAGE_ROWS_MAX_BYTES`` the
edges left are not kept (``message_rows_full``); each counted, and the spans
that did end are all there, exact. The positive control records the same
target with the bounds out of reach: the collector's RSS grows with it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .conftest import PYTHON, query_json, readable, scope_cmd
from .test_trust_churn import NOBODY, _children, rss_mb

SECONDS = 25               # the target's run; RSS is compared from seconds 5-10 to its last 5
RATE = 2000                # its iterations a second: a leaked span and an unreceived message each
ID_BYTES = 255            # the most of a message id the kernel reads
GROWTH_MB = 48             # the bound on the collector's growth over that time (measured ~25)
OPEN_MAX = 1000
LEAK, CHANNEL = "leak" + "_" * 120, "orphans" + "_" * 120      # as span_leak.py names them
SMALL = {"SCOPE_SPANS_OPEN_MAX": str(OPEN_MAX), "SCOPE_SPAN_ROWS_MAX": str(1 << 20),
         "SCOPE_MESSAGE_SENDS_MAX_BYTES": str(256 << 10), "SCOPE_MESSAGE_ROWS_MAX_BYTES": str(128 << 10)}
UNBOUNDED = {name: str(1 << 40) for name in SMALL}


def record_leaks(tmp: Path, env: dict[str, str]) -> tuple[Path, list[tuple[float, int]], int, int, str]:
    """`scope run` of the leaking target as nobody; returns the recording, the
    collector's RSS each second since the target started (s, MB), the
    target's own count of iterations and of spans ended, and scope's output."""
    tmp.mkdir()
    out = tmp / "rec"
    shared = Path(tempfile.mkdtemp(prefix="scope-leak-"))
    shared.chmod(0o755)
    count = shared / "iterations"
    count.touch(0o666)
    count.chmod(0o666)
    scope = subprocess.Popen(
        scope_cmd("run", "-o", str(out), "--max-backlog", "16M", "--write-every", "3s", "--", *NOBODY, PYTHON,
                  str(readable("span_leak.py")), str(SECONDS), str(count), str(RATE), str(ID_BYTES)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    samples: list[tuple[float, int]] = []
    began = None
    try:
        while scope.poll() is None:
            if began is None and any(c.name() == "python3.11" for c in _children(scope.pid)):
                began = time.monotonic()
            rss = rss_mb(scope.pid)
            if began is not None and rss is not None:
                samples.append((time.monotonic() - began, rss))
            time.sleep(1)
        stdout, stderr = scope.communicate(timeout=300)
    finally:
        if scope.poll() is None:
            scope.kill()
            scope.wait()
    n, done = count.read_text().split()
    shutil.rmtree(shared)
    assert scope.returncode == 0, stderr
    return out, samples, int(n), int(done), stdout + stderr


def floor_growth(samples: list[tuple[float, int]]) -> int:
    """How far the collector's RSS floor rose from seconds 5-10 to the last 5."""
    early = [mb for s, mb in samples if 5 <= s < 10]
    late = [mb for s, mb in samples if SECONDS - 5 <= s <= SECONDS]
    assert early and late, samples
    return min(late) - min(early)


def spans_by_name(out: Path) -> dict[tuple[str, str], int]:
    rows = query_json(out, "--sql", "select k.function name, c.status, count(*) n from calls c "
                      "join code k on k.pid = c.pid and k.code_id = c.code_id where c.kind = 'span' group by all")
    return {(r["name"], r["status"]): r["n"] for r in rows}


def messages(out: Path) -> dict:
    """The edges kept: how many, how many received, their channels."""
    return query_json(out, "--sql", "select count(*) n, count(recv_ns) received, "
                      "list(distinct channel) channels from messages")[0]


def test_leaked_spans_and_messages_grow_no_table_without_bound(tmp_path):
    out, samples, n, done, printed = record_leaks(tmp_path / "bounded", SMALL)
    assert n > 20_000
    assert floor_growth(samples) < GROWTH_MB, samples
    drops = json.loads((out / "session.json").read_text())["drops"]
    # every app event reached scope: what is below is exact, not blurred by ring losses
    assert drops.get("app_ring_full", 0) == 0, drops
    for reason in ("spans_open_evicted", "message_sends_evicted", "message_rows_full"):
        assert drops[reason] > 0 and f"{reason} {drops[reason]:,}" in printed, (reason, drops, printed)
    assert "span_rows_full" not in drops, drops
    spans = spans_by_name(out)
    # the spans that ended: every one, complete
    assert spans[("done", "complete")] == done > 0 and ("done", "open") not in spans, spans
    # the leaked ones: those held at the stop written open, the rest counted, none lost silently
    held = spans[(LEAK, "open")]
    assert 0 < held <= OPEN_MAX and held + drops["spans_open_evicted"] == n, (spans, drops)
    # the sends: held ones written without a receiver (as many as the edges' bound keeps), the rest counted
    edges = messages(out)
    assert edges["n"] > 0 and edges["received"] == 0 and edges["channels"] == [CHANNEL], edges
    assert edges["n"] + drops["message_rows_full"] + drops["message_sends_evicted"] == n, (edges, drops)


def test_positive_control_without_the_bounds_the_collector_grows(tmp_path):
    """The same target with the bounds out of reach: every leaked span and
    send is held to the end, and the collector's RSS grows with them past the
    bound the test above holds."""
    out, samples, n, _, _ = record_leaks(tmp_path / "unbounded", UNBOUNDED)
    drops = json.loads((out / "session.json").read_text())["drops"]
    for reason in ("spans_open_evicted", "message_sends_evicted", "message_rows_full"):
        assert reason not in drops, drops
    assert spans_by_name(out)[(LEAK, "open")] == n
    assert messages(out)["n"] == n
    assert floor_growth(samples) > GROWTH_MB, samples
