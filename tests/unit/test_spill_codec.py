"""The spill's codec (collector/_spill_codec.h) through `_drain.encode` and
`_drain.decode`: any records come back exactly, a flood's take a few bytes
each, and bytes that are not exactly the records asked for are refused —
the spill is a file, read back as untrusted input."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scope import kinds
from scope.collector._drain import RECORD, RUN_MAX, decode, encode
from scope.probes.layout import record_dtype

EVENT = record_dtype("scope_event")
U32 = st.integers(0, 2**32 - 1)
FIELDS = st.fixed_dictionaries({
    "ts": st.integers(0, 2**64 - 1), "pid": U32, "tid": U32, "code": U32,
    "line": st.integers(-2**31, 2**31 - 1), "kind": st.integers(0, 0xFFFF), "flags": st.integers(0, 0xFFFF),
    "arg": st.integers(-2**31, 2**31 - 1)})


def records(rows: list[dict]) -> bytes:
    out = np.zeros(len(rows), EVENT)
    for i, row in enumerate(rows):
        for k, v in row.items():
            out[k][i] = v
    return out.tobytes()


def flood(n: int) -> bytes:
    ev = np.zeros(n, EVENT)
    ev["ts"] = 10**12 + 47 * np.arange(n, dtype=np.uint64) + (np.arange(n) % 7)
    ev["pid"], ev["tid"], ev["code"] = 4242, 4243, 0xE000_0002
    ev["kind"][0::2], ev["kind"][1::2] = kinds.CALL, kinds.RETURN
    ev["line"][0::2] = 10
    return ev.tobytes()


@settings(max_examples=300, deadline=None)
@given(st.lists(FIELDS, min_size=1, max_size=40))
def test_any_records_come_back_exactly(rows):
    """Extremes included: times that go backwards or wrap, every field at
    its bounds. When the encoding is not smaller, encode says so (None)."""
    raw = records(rows)
    enc = encode(raw)
    if enc is None:
        return
    assert len(enc) < len(raw)
    assert bytes(decode(enc, len(rows))) == raw


@settings(max_examples=200, deadline=None)
@given(st.lists(FIELDS, min_size=1, max_size=20), st.data())
def test_near_copies_of_records_come_back_exactly(rows, data):
    """Runs of similar records (the encoding's case): each row repeated with
    one field changed, so most fields are unchanged from the record before."""
    out = []
    for row in rows:
        out.append(row)
        field = data.draw(st.sampled_from(sorted(row)))
        out.append(dict(row, **{field: data.draw(FIELDS)[field]}))
    raw = records(out)
    enc = encode(raw)
    assert enc is not None and bytes(decode(enc, len(out))) == raw


def test_a_flood_takes_a_few_bytes_a_record():
    raw = flood(RUN_MAX)
    enc = encode(raw)
    assert len(enc) <= 4 * RUN_MAX + 32      # tag, time, kind, line: 4 bytes (32 raw)
    assert bytes(decode(enc, RUN_MAX)) == raw


def test_records_that_would_not_shrink_are_left_raw():
    rng = np.random.default_rng(5)
    raw = rng.integers(0, 256, 100 * RECORD, dtype=np.uint8).tobytes()
    assert encode(raw) is None
    with pytest.raises(ValueError, match="not whole records"):
        encode(raw[:-1])


def test_bytes_that_are_not_exactly_the_records_are_refused():
    raw = flood(100)
    enc = encode(raw)
    assert bytes(decode(enc, 100)) == raw                      # the positive control
    bad = {
        "cut short": (enc[:-1], 100),
        "a byte left over": (enc + b"\x00", 100),
        "fewer records than it holds": (enc, 99),
        "more records than it holds": (enc, 101),
        "a tag byte with bit 7": (b"\x80" + enc[1:], 100),
        "a time's varint longer than 64 bits": (b"\x00" + b"\xff" * 10 + b"\x01", 1),
        "a field's varint longer than 32 bits": (b"\x01\x00" + b"\xff\xff\xff\xff\x1f", 1),
        "a kind past 16 bits": (b"\x10\x00" + b"\x80\x80\x08", 1),     # zigzag 131072: +65536
        "a kind below 0": (b"\x10\x00\x01", 1),                       # zigzag 1: -1
        "no bytes": (b"", 1),
        "more than a run": (enc, RUN_MAX + 1),
    }
    for why, (data, n) in bad.items():
        with pytest.raises(ValueError):
            decode(data, n)
            pytest.fail(why)


def test_a_kind_at_its_bound_is_taken():
    """Positive control of the width check: kind 0xFFFF decodes, by hand too."""
    raw = records([{"ts": 1, "kind": 0xFFFF, "flags": 0xFFFF}])
    assert bytes(decode(encode(raw), 1)) == raw
    assert np.frombuffer(decode(b"\x10\x00\xfe\xff\x07", 1), EVENT)["kind"][0] == 0xFFFF   # zigzag 131070


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 20))
def test_garbage_never_reads_past_its_bytes(data, n):
    """Whatever the bytes: refused, or exactly n records that encode back to a
    run of the same records."""
    try:
        out = bytes(decode(data, n))
    except ValueError:
        return
    assert len(out) == n * RECORD
    again = encode(out)
    assert again is None or bytes(decode(again, n)) == out


def test_the_header_word_holds_count_and_size():
    """store/spill.py reads the 4th header word as count | size << 32: a run's
    size always fits (at most RUN_MAX records of 32 bytes)."""
    assert RUN_MAX * RECORD < 2**32
    assert struct.calcsize("=QQQQ") == 32
