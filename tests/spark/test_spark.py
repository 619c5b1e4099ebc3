"""A distributed engine reads a fleet's store (opt-in: make test-spark).

Two recordings of different programs, compacted, laid out as the README says
for a fleet (`calls/recording=R/host=H/date=D/hour=HH/…`, `code/recording=R/
code.parquet`), read by PySpark in local mode (Java from Debian): its
per-function call counts (qualified name, file, first line) equal `scope query
--top` over the same two recordings.

Opt-in, for its weight: pyspark is ~450 MB and a JVM; tests/spark/setup.sh
installs it into /var/cache/scope-spark/venv (SCOPE_SPARK_VENV).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import PYTHON, TARGETS, run_scope

VENV = Path(os.environ.get("SCOPE_SPARK_VENV", "/var/cache/scope-spark/venv"))
HERE = Path(__file__).parent


def fleet(recordings: list[Path], root: Path) -> None:
    """The README's fleet layout: each recording's cold calls and its code table
    under one table root, its name as a partition of its own."""
    for rec in recordings:
        for part in (rec / "cold" / "calls").rglob("*.parquet"):
            dest = root / "calls" / f"recording={rec.name}" / part.relative_to(rec / "cold" / "calls")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(part, dest)
        (root / "code" / f"recording={rec.name}").mkdir(parents=True)
        shutil.copy(rec / "code.parquet", root / "code" / f"recording={rec.name}" / "code.parquet")


@pytest.mark.opt_in("Spark: a JVM and a 450 MB pyspark (make test-spark)")
def test_spark_counts_equal_scopes(tmp_path):
    if not os.environ.get("SCOPE_SPARK"):
        pytest.skip("opt-in: make test-spark")
    assert (VENV / "bin" / "python").exists(), f"{VENV} is missing: run tests/spark/setup.sh"
    recs = []
    for name, program, stdin in (("a", "same_names.py", None), ("b", "nested.py", "3 4\n")):
        out = tmp_path / name
        res = run_scope("run", "-o", str(out), "--", PYTHON, str(TARGETS / program), input=stdin)
        assert res.returncode == 0, res.stderr
        assert run_scope("store", "compact", str(out)).returncode == 0
        assert list((out / "cold" / "calls").rglob("*.parquet"))
        recs.append(out)
    root = tmp_path / "fleet"
    fleet(recs, root)
    res = subprocess.run([str(VENV / "bin" / "python"), str(HERE / "count.py"), str(root), "%/tests/targets/%"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    spark = {(r["qualname"], r["file"], r["first_line"]): r["count"] for r in json.loads(res.stdout)}
    ours = {(r["function"], r["file"], r["line"]): r["calls"]
            for r in query_json_many(recs, "--top", "--file", "*/tests/targets/*")}
    assert spark == ours and len(ours) > 10
    assert ours[("Box.value", str(TARGETS / "same_names.py"), 26)] == 13        # the ground truth, once more


def query_json_many(recs: list[Path], *args: str) -> list[dict]:
    res = run_scope("query", *[str(r) for r in recs], "--format", "json", *args)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)
