"""Where an attached recording's calls come from (probes/calls.py)."""
from scope.probes.calls import calls_source, markers_lack

CALLS = ["python:function__entry", "python:function__return", "python:gc__start"]


def test_the_shim_is_loaded_by_default_where_the_markers_give_no_entries():
    auto_311 = calls_source((3, 11), CALLS, None)
    assert auto_311.inject and "start and duration" in auto_311.why
    assert "entries only while a profiler is set" in auto_311.lacks
    auto_314 = calls_source((3, 14), ["python:gc__start"], None)      # no call markers at all
    assert auto_314.inject and auto_314.lacks.startswith("calls: CPython 3.14's markers report none")
    assert calls_source((3, 13), [], None).inject                      # no markers: pyenv, python.org


def test_the_markers_suffice_where_they_report_every_entry():
    auto_315 = calls_source((3, 15), CALLS, None)
    assert not auto_315.inject and auto_315.lacks is None and "every call's entry" in auto_315.why


def test_asked_for_and_impossible_cases():
    assert calls_source((3, 15), CALLS, True).inject                   # --inject
    no = calls_source((3, 11), CALLS, False)                           # --no-inject: said what is lacking
    assert not no.inject and no.why == "asked for (--no-inject)" and no.lacks == markers_lack((3, 11), CALLS)
    old = calls_source((3, 10), CALLS, None)
    assert not old.inject and "3.11 or newer" in old.why
    loaded = calls_source((3, 11), CALLS + ["scope:call", "scope:ret"], True)
    assert not loaded.inject and "already loaded" in loaded.why


def test_what_session_json_keeps():
    source = calls_source((3, 11), CALLS, None)
    assert source.describe(injected=True) == {"source": "shim", "why": source.why, "lacks": None,
                                              "injection_failed": None, "entries_seen": True}
    fell_back = source.describe(injected=False, failure="gdb is missing")
    assert fell_back["source"] == "markers" and fell_back["lacks"] == source.lacks
    assert fell_back["injection_failed"] == "gdb is missing"
    assert fell_back["entries_seen"] is False            # 3.11's markers: the TUI says no stack is known
    assert calls_source((3, 15), CALLS, False).describe(injected=False)["entries_seen"] is True
