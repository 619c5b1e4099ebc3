"""A target that churns code objects cannot grow scope's memory without bound.

The target (tests/targets/code_churn.py, run as nobody) compiles a new
function in a new file every iteration, calls it and drops it: its own memory
stays flat, while every one of those code objects is a new name for scope. Before
collector/bounds.py the collector grew ~30 MB/s for as long as it ran (2.5 GB
after 40 s). Now the names and first lines it holds are bounded: past the
bound a new name is dropped and counted (``names_table_full``,
``first_lines_full``), its calls stored all the same with no name, and the
calls of a function the target names (``tick``) stay exact.

The bounds are set small here (through their environment variables) so they
fill within the first seconds; the positive control records the same target
with them raised out of reach and sees the table grow past the bound.
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

SECONDS = 25               # the target's run; RSS is compared from seconds 5-10 to its last 5
RATE = 5000                # its iterations a second: 10,000 new code objects (a function and its module)
GROWTH_MB = 64             # the bound on the collector's growth over that time (its floor: see floor_growth)
SMALL = {"SCOPE_NAMES_MAX_BYTES": str(8 << 20), "SCOPE_FIRST_LINES_MAX": str(1 << 15)}
UNBOUNDED = {"SCOPE_NAMES_MAX_BYTES": str(1 << 40), "SCOPE_FIRST_LINES_MAX": str(1 << 40)}
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def rss_mb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) // 1024 for line in fh if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None


def record_churn(tmp: Path, env: dict[str, str]) -> tuple[Path, list[tuple[float, int]], int, str]:
    """`scope run` of the churning target as nobody; returns the recording, the
    collector's RSS each second since the target started (s, MB), the target's
    own count of tick() calls, and scope's stderr."""
    tmp.mkdir()
    out = tmp / "rec"
    # the target (nobody) writes its count into a file made for it, in a folder it can reach
    shared = Path(tempfile.mkdtemp(prefix="scope-churn-"))
    shared.chmod(0o755)
    count = shared / "ticks"
    count.touch(0o666)
    count.chmod(0o666)
    scope = subprocess.Popen(
        # a small backlog and frequent rolls: what scope holds anyway stays small beside the tables
        scope_cmd("run", "-o", str(out), "--max-backlog", "16M", "--write-every", "3s", "--", *NOBODY, PYTHON,
                  str(readable("code_churn.py")), str(SECONDS), str(count), str(RATE)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    samples: list[tuple[float, int]] = []
    began = None
    try:
        while scope.poll() is None:
            if began is None and any(c.name() == "python3.11" for c in _children(scope.pid)):
                began = time.monotonic()        # the target runs: its SECONDS start
            rss = rss_mb(scope.pid)
            if began is not None and rss is not None:
                samples.append((time.monotonic() - began, rss))
            time.sleep(1)
        stdout, stderr = scope.communicate(timeout=300)
    finally:
        if scope.poll() is None:
            scope.kill()
            scope.wait()
    ticks = count.read_text()
    shutil.rmtree(shared)
    assert scope.returncode == 0, stderr
    return out, samples, int(ticks), stdout + stderr


def _children(pid: int) -> list:
    import psutil
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def floor_growth(samples: list[tuple[float, int]]) -> int:
    """How far the collector's RSS floor rose from seconds 5-10 to the target's
    last 5 s: the floor (the least in each window), as each roll to disk lifts
    RSS for a moment by the segment it builds, then gives it back."""
    early = [mb for s, mb in samples if 5 <= s < 10]
    late = [mb for s, mb in samples if SECONDS - 5 <= s <= SECONDS]
    assert early and late, samples
    return min(late) - min(early)


def test_churning_code_objects_grow_no_table_without_bound(tmp_path):
    out, samples, ticks, printed = record_churn(tmp_path / "bounded", SMALL)
    growth = floor_growth(samples)
    assert growth < GROWTH_MB, samples
    meta = json.loads((out / "session.json").read_text())
    drops = meta["drops"]
    # what the bounds cost is counted by reason, in session.json and in the summary printed
    assert drops["names_table_full"] > 0 and drops["first_lines_full"] > 0, drops
    for reason in ("names_table_full", "first_lines_full"):
        assert f"{reason} {drops[reason]:,}" in printed, printed
    # calls are not lost for it: none dropped, and tick()'s count is the target's own
    assert drops.get("shim_ring_full", 0) == 0 and drops.get("events_ring_full", 0) == 0, drops
    tick = query_json(out, "--sql", "select count(*) n from calls c join code k on k.pid = c.pid "
                      "and k.code_id = c.code_id where k.function = 'tick' and k.file like '%/code_churn.py'")
    assert tick == [{"n": ticks}] and ticks > 10_000
    # every generated function was called once; each call kept, named right or unnamed —
    # never given another's name; the unnamed are those whose name was counted lost
    gen = query_json(out, "--sql", "select k.function is null unnamed, count(*) n, "
                     "count(*) filter (where k.function like 'f\\_%' escape '\\' "
                     "and k.file <> 'gen_' || substr(k.function, 3) || '.py') misnamed "
                     "from calls c left join code k on k.pid = c.pid and k.code_id = c.code_id "
                     "where k.function is null or k.file like 'gen\\_%' escape '\\' group by all")
    by = {r["unnamed"]: r for r in gen}
    assert by[False]["misnamed"] == 0, gen
    assert by[False]["n"] + by[True]["n"] >= 2 * ticks, (gen, ticks)   # its f_i and its module, each
    lost = drops["names_table_full"] + drops.get("names_ring_full", 0)
    assert 0 < by[True]["n"] <= lost, (gen, drops)
    # the table itself stayed within its bound
    assert 0 < held_bytes(out) <= int(SMALL["SCOPE_NAMES_MAX_BYTES"])


def held_bytes(out: Path) -> int:
    """What the code names the recording kept cost the collector to hold, as
    collector/bounds.py's name_cost counts it (ASCII names: a str is 49 bytes
    plus its length)."""
    from scope.collector.bounds import ENTRY_BYTES
    rows = query_json(out, "--sql", f"select sum({ENTRY_BYTES} + 98 + strlen(file) + strlen(qualname)) b "
                      "from code where kind = 'code'")
    return int(rows[0]["b"] or 0)


def test_positive_control_without_the_bound_the_table_grows_past_it(tmp_path):
    """The same target with the bounds out of reach: the names table grows for
    as long as the target churns, many times past the bound the test above
    holds, and the collector's RSS with it, past the bound on its growth
    (measured: ~130 MB between the windows where the bounded run grew ~30 MB,
    which is the allocators settling under a steady load of calls and rolls)."""
    out, samples, _, _ = record_churn(tmp_path / "unbounded", UNBOUNDED)
    drops = json.loads((out / "session.json").read_text())["drops"]
    assert "names_table_full" not in drops and "first_lines_full" not in drops, drops
    assert held_bytes(out) > 4 * int(SMALL["SCOPE_NAMES_MAX_BYTES"]), held_bytes(out)
    assert floor_growth(samples) > GROWTH_MB, samples
