"""Times, durations and counts on the command line (issue 30, finding 6):
each bad value — past the range (1e308, 1e400, 9e18, a year 9999), not finite,
negative, written with a leading '-' that argparse took for an option — is one
line naming the option and the range, exit 2, never a traceback or "internal
error: OverflowError". The controls: the good values answer (exit 0), and the
arithmetic the old parsers did overflows on the same input."""
from __future__ import annotations

import argparse
import datetime as dt

import pytest

from scope.cli import main
from scope.errors import UsageError
from scope.store.filters import parse_time
from scope.store.reader import open_recording
from scope.units import MAX_SECONDS, parse_duration, parse_seconds, parse_size, wall_ns, whole_number

from .recording import write_story


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    return write_story(tmp_path_factory.mktemp("story") / "rec")


BAD = [("--at", "1e308"), ("--since", "1e400"), ("--at", "9e18"), ("--until", "1e20"), ("--at", "inf"),
       ("--at", "nan"), ("--since", "-inf"), ("--at", "-1"), ("--at", "-1e5"), ("--until", "-0.5"),
       ("--at", "9999-12-31"), ("--since", "0001-01-01"), ("--at", "1970-01-01"), ("--at", "soon"),
       ("--slowest", "99999999999999999999"), ("--slowest", "-1"), ("--limit", "1" * 5000),
       ("--around", "99999999999999999999"), ("--around", "-3"), ("--pid", "99999999999"),
       ("--tid", "-99999999999999999999")]


def _run(argv, capsys) -> tuple[int, list[str], str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.err.strip().splitlines(), out.out


@pytest.mark.parametrize("option,value", BAD, ids=[f"{o} {v[:20]}" for o, v in BAD])
def test_a_bad_time_or_count_is_one_line_naming_the_option(option, value, story, capsys):
    code, err, out = _run(["query", story, option, value], capsys)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("scope: error: ") and option in err[0], err
    assert "internal error" not in err[0] and "Traceback" not in err[0]
    assert "expected one argument" not in err[0]        # a leading '-' is a value, not an option
    assert not out


def test_the_range_is_said(story, capsys):
    _, err, _ = _run(["query", story, "--at", "1e308"], capsys)
    assert f"0 to {MAX_SECONDS:,}" in err[0] and "ISO time from 1970 to 2262" in err[0]
    _, err, _ = _run(["query", story, "--slowest", "99999999999999999999"], capsys)
    assert "at most 4,611,686,018,427,387,904" in err[0]


GOOD = [["--at", "0.1"], ["--since", "0.05", "--until", "1e-1"], ["--at", "1e9"], ["--slowest", "3"],
        ["--at", dt.datetime.fromtimestamp(1_700_000_000.1, dt.UTC).isoformat()], ["--limit", "0"],
        ["--at=0.2"]]


@pytest.mark.parametrize("argv", GOOD, ids=[" ".join(a) for a in GOOD])
def test_the_control_good_values_answer(argv, story, capsys):
    code, err, out = _run(["query", story, *argv], capsys)
    assert code == 0, err
    assert not err or err == ["scope: note: 1e9 lies outside the recording (it spans 0 to 2.000 s)"]
    assert out


def test_the_control_without_the_check_the_answer_overflows(story):
    """The positive control: the values above, turned into ns as `parse_time`
    did (``int(float(text) * 1e9)``) and handed to time travel unchecked, end
    in the OverflowError the issue saw."""
    from scope.store import travel
    rec = open_recording(story)
    with pytest.raises(OverflowError):
        int(float("1e308") * 1e9)
    with pytest.raises(OverflowError):
        travel.at(rec, rec.start_ns + int(float("9e18") * 1e9))


def test_the_store_refuses_what_the_command_line_would(story):
    """`parse_time` itself (what `scope mcp` and the TUI reach): a UsageError,
    never an overflow, for the same values and for an ISO time decades away."""
    rec = open_recording(story)
    for text in ("1e308", "9e18", "-1", "nan", "9999-12-31", "1970-01-01", "soon"):
        with pytest.raises(UsageError):
            parse_time(text, rec)
    assert parse_time("2.5", rec) == rec.start_ns + 2_500_000_000
    wall = dt.datetime.fromtimestamp(1_700_000_001.5, dt.UTC).isoformat()
    assert parse_time(wall, rec) == rec.start_ns + 1_500_000_000          # exact: no float rounding


def test_wall_times_are_exact_and_bounded():
    assert wall_ns("2262-04-11T23:47:16.854775+00:00") == 9_223_372_036_854_775_000
    for text in ("2262-04-12T00:00:00+00:00", "1969-12-31T23:59:59+00:00", "0001-01-01"):
        with pytest.raises(UsageError, match="out of range"):
            wall_ns(text)


def test_durations_sizes_and_seconds_are_bounded(capsys):
    with pytest.raises(argparse.ArgumentTypeError, match="out of range"):
        parse_duration("9" * 400 + "s")
    assert parse_duration(f"{MAX_SECONDS}s") == MAX_SECONDS * 10**9
    for text in ("inf", "nan", "-1", "0", "1e308"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_seconds(text)
    with pytest.raises(UsageError, match="out of range"):
        parse_size("9" * 400 + "G")
    with pytest.raises(argparse.ArgumentTypeError, match="must not be negative"):
        whole_number(0, 10)("-1")
    for argv, option in ((["attach", "1", "--duration", "nan"], "--duration"),
                         (["attach", "1", "--duration", "-inf"], "--duration"),
                         (["run", "--min-duration", "9" * 400 + "s", "--", "true"], "--min-duration"),
                         (["stats", "x", "--limit", "-5"], "--limit")):
        code, err, _ = _run(argv, capsys)
        assert code == 2 and len(err) == 1 and option in err[0] and "internal error" not in err[0], err
