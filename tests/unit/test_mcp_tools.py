"""`scope mcp`'s guards that need no server: a failing tool is one line to the
assistant and one to stderr, whatever it raised; a recording is named by one
folder name and nothing else. (tests/integration/test_mcp.py drives the real
server over stdio.)"""
import threading

import pytest

from scope.commands.mcp import guarded
from scope.commands.mcp_tools import Store, _range
from scope.errors import UsageError

from .recording import START, write_recording
from .streams import tree_events


class Refused(Exception):
    """Stands for the SDK's ToolError."""


def _raising(exc):
    def tool(**kwargs):
        raise exc
    return tool


@pytest.mark.parametrize("exc, said", [
    (OverflowError("cannot convert float infinity to integer"), "internal error: OverflowError: cannot convert"),
    (ValueError("embedded null byte\x1b[2J"), "internal error: ValueError: embedded null byte\\x1b[2J"),
    (UsageError("no recording 'x'", "list_recordings names them"), "no recording 'x' (list_recordings names them)"),
])
def test_a_failing_tool_is_one_line_never_a_traceback(exc, said, capsys):
    tool = guarded("top", _raising(exc), Refused, threading.Lock())
    with pytest.raises(Refused) as err:
        tool(recording="x")
    assert said in str(err.value) and "\n" not in str(err.value) and "\x1b" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scope mcp: top: ") and said in lines[0]
    assert "Traceback" not in lines[0]
    # the positive control: the same tool that does not raise answers
    assert guarded("top", lambda **kw: "[]", Refused, threading.Lock())(recording="x") == "[]"


def test_a_recording_is_one_folder_of_the_store(tmp_path):
    _, _, ev = tree_events([(1, [])], tid=1, t0=START + 100)
    write_recording(tmp_path / "store" / "rec", ev, {1: ("main", "/app/main.py")})
    (tmp_path / "store" / "plain").mkdir()
    store = Store(tmp_path / "store")
    assert store.recording("rec") == (tmp_path / "store" / "rec").resolve()       # the positive control
    for name in ("rec\x00", "\x00", "", ".", "..", "../store/rec", "rec/", "/etc", "x" * 300, "\ud800", "missing"):
        with pytest.raises(UsageError, match="no recording"):
            store.recording(name)


def test_a_value_beginning_with_a_dash_stays_a_value():
    assert _range("-5", "1e400", "--help") == ["--since=-5", "--until=1e400", "--function=--help"]


def test_an_answer_too_large_to_be_one_is_refused(tmp_path):
    from scope.commands.mcp_tools import tools
    _, _, ev = tree_events([(1, [])], tid=1, t0=START + 100)
    write_recording(tmp_path / "store" / "rec", ev, {1: ("main", "/app/main.py")})
    sql = dict((name, fn) for name, fn, _ in tools(Store(tmp_path / "store")))["sql"]
    with pytest.raises(UsageError, match="more than an answer holds"):
        sql(recording="rec", query="select repeat('x', 1000000) s from range(40)")        # 40 MB
    # the positive control: 20 MB is answered, cut to what an answer holds and saying so
    import json
    cut = json.loads(sql(recording="rec", query="select repeat('x', 1000000) s from range(20)"))
    assert cut["rows"] == [] and cut["note"].startswith("0 of 20 rows")
    assert json.loads(sql(recording="rec", query="select 1 n")) == [{"n": 1}]
