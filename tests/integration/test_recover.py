"""A collector SIGKILLed while records wait in its spill: the recording is
recoverable, exactly up to the kill (`scope store verify` reports what waits,
`scope store recover` indexes it; collector/recover.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess

from .conftest import attach_scope, query_json, run_scope, start_with_shim, wait_until

N = 3_000_000     # flood.py: 2 * (N + 1) call and return records, nothing else in Python


def _killed_with_a_spill(tmp_path):
    """A flood far beyond what the collector indexes, most of it spilled (8 MiB
    of backlog memory); the collector killed once a roll has said how far the
    rings are on disk and while most of the flood still waits."""
    target = start_with_shim("flood.py", str(N), stdin=subprocess.PIPE)
    out = tmp_path / "rec"
    try:
        scope = attach_scope(target.pid, out, "--max-backlog", "8M", "--write-every", "200ms")
        target.stdin.write(b"w")
        target.stdin.flush()
        assert target.stdout.readline() == b"done\n"
        # killed once every record is out of the target (the spill's last run ends with
        # the flood's last record) and a roll has listed some of them with its marks
        wait_until(lambda: _spilled_to(out) == 2 * (N + 1) and "marks" in _catalog(out),
                   "the whole flood drained, part of it listed")
        os.kill(scope.pid, signal.SIGKILL)
        scope.wait()
    finally:
        target.kill()
        target.wait()
    return out


def _spilled_to(out) -> int:
    """The sequence number after the last record in the spill (0: none yet)."""
    from scope.store.spill import runs
    if not (out / "rings.spill").exists():
        return 0
    found, _ = runs(out / "rings.spill")
    return max((r.first + r.count for r in found), default=0)


def _catalog(out) -> dict:
    try:
        return json.loads((out / "catalog.json").read_text())
    except (OSError, ValueError):
        return {}


def _leaf_and_flood(out) -> dict:
    rows = query_json(out, "--sql", "select c.function, k.status, count(*) n from calls k join code c "
                      "on k.code_id = c.code_id and k.pid = c.pid where c.file like '%flood.py' group by 1, 2")
    got: dict = {}
    for r in rows:
        got.setdefault(r["function"], {})[r["status"]] = r["n"]
    return got


def test_a_collector_killed_with_a_spill_pending_is_recovered_exactly(tmp_path):
    out = _killed_with_a_spill(tmp_path)
    assert (out / "rings.spill").exists() and not (out / "session.json").exists()
    before = query_json(out, "--sql", "select count(*) n from events where kind in ('call', 'return')")[0]["n"]
    assert before < 2 * (N + 1)          # killed with calls still waiting: the test is not vacuous
    from scope.store.spill import runs
    assert any(not r.raw for r in runs(out / "rings.spill")[0])   # encoded runs among them (_spill_codec.h)

    res = run_scope("store", "verify", str(out))
    assert res.returncode == 1 and "UNFINISHED" in res.stdout, res.stdout + res.stderr
    waiting = int(res.stdout.split("spill")[1].split()[0].replace(",", ""))
    assert waiting > 0 and "scope store recover" in res.stdout, res.stdout

    res = run_scope("store", "recover", str(out))
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    meta = json.loads((out / "session.json").read_text())
    assert meta["stop_reason"] == "collector killed; recovered from its spill"
    assert not (out / "rings.spill").exists() and not (out / "rings.json").exists()
    lost = meta["drops"].get("lost_at_kill", 0)
    assert meta["recovered"]["records"] >= waiting
    # every record the program made is on disk once, or counted as lost at the kill
    recorded = query_json(out, "--sql", "select count(*) n from events where kind in ('call', 'return')")[0]["n"]
    assert recorded + lost == 2 * (N + 1), (recorded, lost, meta["recovered"])
    # no call twice, none missing: a leaf() is completed unless its return record was lost
    # (one whose call was lost ends start_unseen), and the lost records are one run of
    # alternating calls and returns
    got = _leaf_and_flood(out)
    leaf = sum(n for s, n in got["leaf"].items() if s in ("complete", "start_unseen"))
    assert N - (lost + 1) // 2 <= leaf <= N - lost // 2, (got, lost)
    assert sum(got["flood"].values()) == 1, got
    print(f"on disk at the kill: {before:,} records; waiting in the spill: {waiting:,}; recovered "
          f"{meta['recovered']['records']:,}; lost at the kill: {lost:,}; leaf() {got['leaf']}")
    # and it reads as a finished, healthy recording
    res = run_scope("store", "verify", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    assert run_scope("store", "recover", str(out)).returncode == 1      # once only


def test_recover_refuses_what_it_cannot_take_up(tmp_path):
    """No spill, a finished recording, a folder still being written: one line
    each, a non-zero exit, nothing changed."""
    out = _killed_with_a_spill(tmp_path)
    (out / "rings.json").rename(out / "rings.json.away")
    res = run_scope("store", "recover", str(out))
    assert res.returncode == 1 and "rings.json" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (out / "session.json").exists() and (out / "rings.spill").exists()
    (out / "rings.json.away").rename(out / "rings.json")
    lock = os.open(out / ".lock", os.O_RDWR)
    import fcntl
    fcntl.flock(lock, fcntl.LOCK_EX)        # as a collector still writing it holds it
    try:
        res = run_scope("store", "recover", str(out))
        assert res.returncode == 1 and "being written" in res.stderr, res.stderr
    finally:
        os.close(lock)
    assert run_scope("store", "recover", str(out)).returncode == 0
