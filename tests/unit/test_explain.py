"""`scope explain` on recordings this test writes call by call: each threshold
at its boundary (one call fewer: silent; at it: found), findings ordered by
severity, names a target chose shown escaped in every format, and the
thresholds' parsing. The detectors against real programs:
tests/integration/test_explain.py."""
from __future__ import annotations

import json
import re

import pytest

from scope import kinds
from scope.errors import UsageError
from scope.store.explain import Report, explain
from scope.store.explain.finding import Finding
from scope.store.explain.render import FORMATS
from scope.store.explain.thresholds import Thresholds, parse
from scope.store.reader import open_recording

from .recording import START, write_calls_recording
from .streams import to_records

US = 1_000


def repeated(tmp_path, per_parent: int, parents: int = 3, name: str = "fetch"):
    """``parents`` calls of handler (1), each calling ``name`` (2) ``per_parent``
    times, 10 µs each, back to back: all of handler's time."""
    events, t = [], START + 1000 * US
    for _ in range(parents):
        events.append((t, 1, kinds.CALL, 1))
        for _ in range(per_parent):
            events += [(t, 1, kinds.CALL, 2), (t + 10 * US, 1, kinds.RETURN, 2)]
            t += 10 * US
        events.append((t, 1, kinds.RETURN, 1))
        t += 1 * US
    folder = write_calls_recording(tmp_path / f"rec{per_parent}-{parents}", to_records(events),
                                   {1: ("handler", "/app/h.py"), 2: (name, "/app/db.py")}, stop=t + 1000 * US)
    return open_recording(folder)


def test_repeated_work_at_its_boundary(tmp_path):
    t = Thresholds()
    assert not explain(repeated(tmp_path, t.repeat_calls - 1), only=["repeated-work"]).findings
    found = explain(repeated(tmp_path, t.repeat_calls), only=["repeated-work"]).findings
    assert len(found) == 1
    f = found[0]
    assert f.where["function"] == "handler" and f.evidence["callee"]["function"] == "fetch"
    assert (f.evidence["parent_calls"], f.evidence["callee_calls"]) == (3, 3 * t.repeat_calls)
    assert f.evidence["callee_time_ns"] == 3 * t.repeat_calls * 10 * US == f.at_stake_ns
    assert f.evidence["worst"]["callee_calls"] == t.repeat_calls
    # one parent call only: a loop run once (a driver's) is not repeated work
    assert not explain(repeated(tmp_path, t.repeat_calls, parents=1), only=["repeated-work"]).findings
    # and the threshold moves with --threshold
    assert explain(repeated(tmp_path, 50), parse(["repeat_calls=50"]), only=["repeated-work"]).findings


def test_names_a_target_chose_are_shown_escaped_in_every_format(tmp_path):
    rec = repeated(tmp_path, 100, name="\x1b]0;pwned\x07fetch\nrow")
    report = explain(rec, only=["repeated-work"])
    assert report.findings
    for fmt, render in FORMATS.items():
        text = render(report, True)
        assert "\x1b" not in text and "\x07" not in text, fmt
        if fmt == "json":
            assert json.loads(text)["findings"][0]["evidence"]["callee"]["function"] == "\x1b]0;pwned\x07fetch\nrow"
        else:       # markdown escapes its own characters too: undone here
            plain = re.sub(r"\\([\\`*_\[\]<>|#])", r"\1", text) if fmt == "markdown" else text
            assert "\\x1b]0;pwned\\x07fetch\\nrow" in plain and "fetch\nrow" not in plain, fmt


def _finding(severity: str, stake: int) -> Finding:
    return Finding("hot-spots", "t", severity, {"function": "f", "file": "/f.py", "line": 1}, stake, 0.1, {}, "w", "t")


def test_findings_are_ordered_by_severity_then_time_at_stake(tmp_path):
    import scope.store.explain as ex
    got = [_finding("low", 9), _finding("high", 1), _finding("medium", 5), _finding("high", 3)]
    original = dict(ex.DETECTORS)
    try:
        ex.DETECTORS.clear()
        ex.DETECTORS["fixed"] = lambda f, t: (got, ["a note"])
        report = explain(repeated(tmp_path, 1))
    finally:
        ex.DETECTORS.clear()
        ex.DETECTORS.update(original)
    assert [(f.severity, f.at_stake_ns) for f in report.findings] == [("high", 3), ("high", 1), ("medium", 5),
                                                                      ("low", 9)]
    assert report.notes == ["a note"]
    assert "note: a note" in FORMATS["table"](report, True)


def test_an_empty_report_says_why():
    text = FORMATS["table"](Report([], [], 10**9), True)
    assert text.startswith("no findings") and "--threshold" in text


def test_thresholds_parse_and_refuse():
    t = parse(["repeat_calls=50", "slow-factor=4", "min_share=0.5"])
    assert (t.repeat_calls, t.slow_factor, t.min_share) == (50, 4.0, 0.5) and isinstance(t.repeat_calls, int)
    for bad, said in (("nope=1", "names: "), ("repeat_calls", "names: "), ("repeat_calls=x", "not a number"),
                      ("min_share=-1", "negative")):
        with pytest.raises(UsageError) as err:
            parse([bad])
        assert said in str(err.value) + err.value.fix, bad


def test_the_openai_compatible_provider_over_http(tmp_path, monkeypatch):
    """A local endpoint speaking the chat-completions API: the request carries
    the model, the system instructions and the findings as the user message,
    the key as a bearer token; the answer's text comes back. A dead endpoint
    is one clear error."""
    import http.server
    import threading

    from scope.commands.llm import SYSTEM, narrative, prompt
    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen["path"], seen["auth"] = self.path, self.headers.get("Authorization")
            seen["body"] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": "It is N+1."}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        report = explain(repeated(tmp_path, 100), only=["repeated-work"])
        for k in ("SCOPE_LLM_PROVIDER", "SCOPE_LLM_MOCK_PROMPT"):
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv("SCOPE_LLM_URL", f"http://127.0.0.1:{server.server_port}/v1/")
        monkeypatch.setenv("SCOPE_LLM_MODEL", "tiny")
        monkeypatch.setenv("SCOPE_LLM_KEY", "sk-test")
        assert narrative(report) == "It is N+1."
        body = seen["body"]
        assert seen["path"] == "/v1/chat/completions" and seen["auth"] == "Bearer sk-test"
        assert body["model"] == "tiny" and body["messages"][0] == {"role": "system", "content": SYSTEM}
        assert body["messages"][1] == {"role": "user", "content": prompt(report)}
        assert report.findings[0].title in body["messages"][1]["content"]
    finally:
        server.shutdown()
        server.server_close()          # the port closed: a request is refused at once, not left waiting
    monkeypatch.setenv("SCOPE_LLM_URL", f"http://127.0.0.1:{server.server_port}/v1")
    with pytest.raises(UsageError, match="did not answer"):
        narrative(report)
    monkeypatch.delenv("SCOPE_LLM_URL")
    with pytest.raises(UsageError, match="none is configured"):
        narrative(report)
