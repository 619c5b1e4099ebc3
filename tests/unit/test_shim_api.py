"""scope_shim without a collector: argument validation, payload encoding, no-op cost paths."""
from __future__ import annotations

import asyncio
import importlib
import json
import sys

import pytest


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    import os
    os.environ["SCOPE_SHIM_CACHE"] = str(tmp_path_factory.mktemp("shimcache"))
    from scope.probes import shim as shimbuild
    importlib.reload(shimbuild)
    root = shimbuild.build_shim(sys.executable)
    sys.path.insert(0, str(root))
    module = importlib.import_module("scope_shim")
    yield module
    sys.path.remove(str(root))


@pytest.fixture(scope="module")
def encoder(shim):
    return shim._payload.Encoder


def test_calls_are_noops_without_a_collector(shim):
    assert shim.mark("m", a=1) is None
    assert shim.state("s", {"a": 1}) is None
    assert shim.send("c", 1) is None and shim.recv("c", 1) is None
    with shim.span("s", k=1) as sp:
        assert sp._id == 0                  # nothing emitted, nothing to end
    assert shim._shim._listening() is False
    assert shim._shim._tracing_requested() is False


@pytest.mark.parametrize("call,message", [
    (lambda s: s.mark(1), "mark name must be a str"),
    (lambda s: s.mark("a", "b"), "expected 1 argument"),
    (lambda s: s.state(b"x", 1), "state name must be a str"),
    (lambda s: s.state("x"), "takes a name and a value"),
    (lambda s: s.send(None, 1), "channel must be a str"),
    (lambda s: s.recv("c"), "takes a channel and a message id"),
    (lambda s: s.span(3), "span name must be a str"),
])
def test_argument_validation(shim, call, message):
    with pytest.raises(TypeError, match=message):
        call(shim)


def test_span_decorator_keeps_the_function(shim):
    @shim.span("work", kind="sync")
    def work(a, b=2):
        """doc"""
        return a + b

    @shim.span("awork")
    async def awork(x):
        await asyncio.sleep(0)
        return x

    assert work(1) == 3 and work.__name__ == "work" and work.__doc__ == "doc"
    assert asyncio.run(awork(5)) == 5


def test_span_propagates_exceptions(shim):
    with pytest.raises(KeyError), shim.span("x"):
        raise KeyError("k")


def test_redaction(encoder):
    data, flags = encoder()({"user": "ann", "password": "p", "Api-Key": "k", "nested": [{"token": "t"}],
                             "monkey": "ok", "keyboard": "ok"})
    assert json.loads(data) == {"user": "ann", "password": "[REDACTED]", "Api-Key": "[REDACTED]",
                                "nested": [{"token": "[REDACTED]"}], "monkey": "ok", "keyboard": "ok"}
    assert flags & 0x20


def test_custom_redaction_patterns(encoder):
    data, flags = encoder(redact=("^ssn$",))({"ssn": "1", "password": "visible"})
    assert json.loads(data) == {"ssn": "[REDACTED]", "password": "visible"}


def test_truncation(encoder):
    data, flags = encoder(max_bytes=100)("é" * 1000)
    assert len(data) <= 100 and flags & 0x10
    data.decode("utf-8")                     # cut on a character boundary


def test_repr_fallback_and_cycles(encoder):
    class Thing:
        def __repr__(self):
            return "<thing>"
    data, flags = encoder()({"t": Thing()})
    assert json.loads(data) == {"t": "<thing>"} and flags & 0x40
    loop = []
    loop.append(loop)
    data, flags = encoder()(loop)
    assert flags & 0x40 and b"[...]" in data


def test_hostile_repr_never_escapes(encoder):
    class Hostile:
        def __repr__(self):
            raise RuntimeError("no")
    data, flags = encoder()(Hostile())
    assert b"unrepresentable" in data


def test_bad_configuration(encoder):
    with pytest.raises(ValueError, match="max_bytes"):
        encoder(max_bytes=1)
