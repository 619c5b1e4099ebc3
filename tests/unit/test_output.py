"""The tables people read: units, separators, shares, limits (snapshots), and
the exact numbers scripts read (piped, JSON, CSV)."""
import json
import subprocess
import sys

import pytest

from scope.units import human_bytes, human_ns

from .recording import write_story


@pytest.mark.parametrize("ns,text", [(0, "0 ns"), (53, "53 ns"), (999, "999 ns"), (1_000, "1.00 µs"),
                                     (1_623, "1.62 µs"), (864_532, "865 µs"), (999_600, "1.00 ms"),
                                     (12_000_000, "12.0 ms"), (20_156_776, "20.2 ms"), (2_599_686_540, "2.60 s"),
                                     (65_400_000_000, "1 m 05.4 s"), (-1_500, "-1.50 µs")])
def test_durations_in_units(ns, text):
    assert human_ns(ns) == text


def test_sizes_in_units():
    assert [human_bytes(n) for n in (0, 1023, 1024, 3_300_000, 5 * 2**30)] == \
        ["0 B", "1023 B", "1.0 KiB", "3.1 MiB", "5.0 GiB"]


def scope(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scope", *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    return str(write_story(tmp_path_factory.mktemp("story") / "rec"))


def test_top_for_people(story, snapshot):
    res = scope("query", story, "--top", "--format", "table")
    assert res.returncode == 0, res.stderr
    assert res.stdout == snapshot


def test_top_sorted_by_calls_and_stats_for_people(story, snapshot):
    top = scope("query", story, "--top", "--sort", "calls", "--format", "table")
    stats = scope("stats", story, "--format", "table", "--limit", "3")
    assert top.returncode == 0 and stats.returncode == 0, top.stderr + stats.stderr
    assert top.stdout + stats.stdout == snapshot


def test_piped_tables_and_json_keep_exact_numbers(story):
    piped = scope("query", story, "--top").stdout.splitlines()
    rows = json.loads(scope("query", story, "--top", "--format", "json").stdout)
    assert piped[0].split()[:5] == ["function", "file", "line", "calls", "total_ns"]
    assert str(rows[0]["total_ns"]) in piped[1].split()          # no units, no separators
    assert abs(sum(r["self_pct"] for r in rows if r["self_pct"] is not None) - 100) < 1e-6


def test_a_time_outside_the_recording_is_said(story):
    res = scope("query", story, "--at", "100")
    assert res.returncode == 0
    assert res.stderr == "scope: note: 100 lies outside the recording (it spans 0 to 2.000 s)\n"
    assert scope("query", story, "--at", "0.5").stderr == ""


def test_the_version():
    from scope.version import version
    res = scope("--version")
    assert res.returncode == 0 and res.stdout == f"scope {version()}\n"


def test_scopes_own_code_is_told_apart():
    """The shim package and the boot sitecustomize beside it; not a program's own
    sitecustomize, nor a boot folder of its own."""
    import pyarrow as pa

    from scope.store.query import code_key, scope_code
    files = ["/tmp/scope-shim-1/scope_shim/_switch.py", "/tmp/scope-shim-1/boot/sitecustomize.py",
             "/usr/lib/python3.11/sitecustomize.py", "/app/boot/sitecustomize.py",
             "/venv/lib/site-packages/scope_shim/__init__.py", "/app/main.py"]
    code = pa.table({"pid": [7] * len(files), "code_id": list(range(len(files))), "file": files})
    ours = scope_code(code).to_pylist()
    assert ours == code_key(pa.array([7, 7, 7]), pa.array([0, 1, 4])).to_pylist()
