"""Every command with missing, malformed and out-of-range arguments: one clear
line on stderr (`scope: error: …` with the fix), exit code 2 for usage errors
and 1 for runtime failures, never a traceback. The table's length is the
"bad inputs tried" figure of tests/RELIABILITY.md."""
import pytest

from scope.cli import main

from .recording import write_story

R = "{rec}"          # a real recording, filled in per test
N = "{nowhere}"      # a path that does not exist
F = "{file}"         # a plain file
E = "{empty}"        # an empty folder

CASES = [
    # doctor
    (["doctor", "--pid", "abc"], 2), (["doctor", "--pid", "4194000"], 1), (["doctor", "--binary", N], 1),
    (["doctor", "--binary", F], 1), (["doctor", "--bogus"], 2),
    # attach (all refused before any probe is attached)
    (["attach"], 2), (["attach", "abc"], 2), (["attach", "-5"], 2), (["attach", "0"], 2),
    (["attach", "4194000"], 1), (["attach", "1", "--duration", "-1"], 2), (["attach", "1", "--duration", "x"], 2),
    (["attach", "1", "--buffer-mb", "3"], 2), (["attach", "1", "--buffer-mb", "0"], 2),
    (["attach", "1", "--buffer-mb", "8192"], 2), (["attach", "1", "--min-duration", "fast"], 2),
    (["attach", "1", "--max-overhead", "0"], 2), (["attach", "1", "--max-overhead", "-3"], 2),
    (["attach", "1", "--write-every", "1ms"], 2), (["attach", "1", "--write-every", "often"], 2),
    (["attach", "1", "--tid", "0"], 2), (["attach", "1", "--pid", "-2"], 2), (["attach", "1", "--exclude", ""], 2),
    (["attach", "1", "--function", "x" * 3000], 2), (["attach", "1", "--syscalls", "not_a_syscall"], 2),
    (["attach", "1", "--trigger", "exception"], 2), (["attach", "1", "--flight-recorder", "30s"], 2),
    (["attach", "1", "--flight-recorder", "soon", "--trigger", "signal"], 2),
    (["attach", "1", "--flight-recorder", "1s", "--trigger", "boom"], 2),
    (["attach", "1", "--flight-recorder", "1s", "--trigger", "slow:f"], 2),
    (["attach", "1", "--after", "later"], 2), (["attach", "1", "-o", F], 2),
    (["attach", "1", "--unsafe-probe", "line"], 2), (["attach", "1", "--unsafe-probe", ":line"], 2),
    # run
    (["run"], 2), (["run", "--"], 2), (["run", "--", N], 1), (["run", "--", "/bin/true"], 1),
    (["run", "--buffer-mb", "5", "--", "/usr/bin/python3.11", "-c", "pass"], 2),
    (["run", "--write-every", "0", "--", "/usr/bin/python3.11", "-c", "pass"], 2),
    (["run", "--flight-recorder", "1s", "--", "/usr/bin/python3.11", "-c", "pass"], 2),
    (["run", "--lines", "--", "/usr/bin/python3.11", "-c", "pass"], 2),
    (["run", "--unsafe-probe", "python:gc__start", "--", "/usr/bin/python3.11", "-c", "pass"], 2),
    (["run", "--unsafe-probe", "python:line", "--", "/usr/bin/python3.11", "-c", "pass"], 2),
    # query
    (["query"], 2), (["query", "--parquet"], 2), (["query", "--parquet", N], 1), (["query", "--parquet", F], 1),
    (["query", "--parquet", E], 1), (["query", "--parquet", R, "--kind", "bogus"], 2),
    (["query", "--parquet", R, "--top", "--slowest", "3"], 2), (["query", "--parquet", R, "--slowest", "-1"], 2),
    (["query", "--parquet", R, "--slowest", "many"], 2), (["query", "--parquet", R, "--limit", "-4"], 2),
    (["query", "--parquet", R, "--since", "yesterday"], 2), (["query", "--parquet", R, "--at", "noon-ish"], 2),
    (["query", "--parquet", R, "--around", "999999"], 2), (["query", "--parquet", R, "--around", "x"], 2),
    (["query", "--parquet", R, "--sql", "selec 1"], 2), (["query", "--parquet", R, "--format", "xml"], 2),
    (["query", "--parquet", R, "--offcpu"], 1), (["query", "--parquet", R, "--syscalls"], 1),
    (["query", "--parquet", R, R, "--around", "1"], 2), (["query", "--parquet", R, "--pid", "x"], 2),
    # export
    (["export", R, R, "-o", "{tmp}/x.svg"], 2), (["export", "--parquet", R, "--format", "png", "-o", "x"], 2),
    (["export", "--parquet", N, "--format", "chrome", "-o", "{tmp}/x.json"], 1),
    (["export", "--parquet", R, "--format", "perfetto", "-o", E], 2),
    (["export", "--parquet", R, "--format", "perfetto", "-o", "{nowhere}/x.pftrace"], 2),
    # stats, diff
    (["stats", "--parquet", N], 1), (["stats", "--parquet", R, "--limit", "0"], 2),
    (["stats", "--parquet", R, "--format", "yaml"], 2), (["diff", R], 2), (["diff", R, N], 1),
    (["diff", R, R, "--limit", "-1"], 2),
    # store
    (["store"], 2), (["store", "scrub"], 2), (["store", "ls", N], 1), (["store", "ls", F], 1),
    (["store", "compact", N], 1), (["store", "compact", E], 1), (["store", "prune", E], 2),
    (["store", "prune", E, "--max-bytes", "lots"], 2), (["store", "prune", E, "--max-age", "old"], 2),
    (["store", "prune", R, "--max-age", "1d"], 2), (["store", "verify"], 2), (["store", "verify", N], 1),
    # tui (checked before any screen opens)
    (["tui", N], 1), (["tui", E], 1), (["tui", F], 1), (["tui", R, N], 1),
    # no command at all, or an unknown one
    ([], 2), (["frobnicate"], 2),
]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "empty").mkdir()
    (tmp / "file").write_text("not a recording")
    return {"rec": str(write_story(tmp / "rec")), "nowhere": str(tmp / "nowhere"), "file": str(tmp / "file"),
            "empty": str(tmp / "empty"), "tmp": str(tmp)}


@pytest.mark.parametrize("argv,code", CASES, ids=[" ".join(a)[:60] or "(none)" for a, _ in CASES])
def test_bad_input_is_one_clear_line(argv, code, paths, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    got = main([a.format(**paths) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert got == code, (got, err)
    assert len(err) == 1 and err[0].startswith("scope: error:") and "Traceback" not in err[0], err
    assert len(err[0]) > len("scope: error: ") + 10
