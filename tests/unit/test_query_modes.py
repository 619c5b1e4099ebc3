"""`scope query`'s question table (scope/commands/query_modes.py): it builds the
parser and picks the answer; every mode answers a real recording the way the
store's own function does."""
from __future__ import annotations

import argparse

import pytest

from scope.commands.query import QueryCommand
from scope.commands.query_modes import EVENTS, MODES, chosen
from scope.store import query, travel
from scope.store.reader import open_recording

from .recording import write_story


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return open_recording(write_story(tmp_path_factory.mktemp("modes") / "rec"))


def parse(*argv):
    parser = argparse.ArgumentParser()
    QueryCommand().prepare_parser(parser)
    return parser.parse_args(["x", *argv])


def test_each_mode_is_a_flag_and_only_one_is_taken(capsys):
    for m in MODES:
        argv = [f"--{m.name}"] + ([] if m.metavar is None else ["1"])     # a count, a time, an id, SQL
        assert chosen(parse(*argv))[0] is m
    assert chosen(parse())[0] is EVENTS
    with pytest.raises(SystemExit):
        parse("--top", "--calls")
    assert "not allowed with argument" in capsys.readouterr().err


def test_modes_answer_as_the_store_does(rec):
    f = query.Filters()
    args = parse("--top")
    expected = {"calls": query.calls(rec, f), "slowest": query.slowest(rec, f, 3), "tasks": query.tasks(rec, f),
                "at": travel.at(rec, query.parse_time("0.5", rec)), "flow": query.flow(rec, f)}
    values = {"slowest": 3, "at": "0.5"}
    for m in MODES:
        if m.name in expected:
            table, _ = m.answer([rec], f, values.get(m.name, True), args)
            assert table.equals(expected[m.name]), m.name
    table, _ = EVENTS.answer([rec], f, None, args)
    assert table.equals(query.events(rec, f))
