"""The drain (collector/_drain.c) on rings this test writes itself: order,
the memory bound, the spill and its holes, the bounds holding records in the
ring, a head that lies, and its thread."""
from __future__ import annotations

import mmap
import os
import struct
import time

import numpy as np
import pytest

from scope.collector._drain import RECORD, Drain
from scope.probes.layout import header_constants, record_dtype

EVENT = record_dtype("scope_event")
RING = record_dtype("scope_ring")
HEADER = header_constants()["SCOPE_RING_HEADER"]
HEAD = RING.fields["head"][1]
TAIL = RING.fields["tail"][1]


class Ring:
    """A ring as the shim lays it out, with a producer that numbers its records.
    Its records are made so that none encodes to fewer than 32 bytes
    (collector/_spill_codec.h: every field jumps by 2**31 or 2**15 from one
    record to the next), so its spilled runs are raw and their sizes exact;
    ``plain``: only ts set, records that encode to about 2 bytes each."""

    def __init__(self, capacity: int, plain: bool = False) -> None:
        self.capacity = capacity
        self.plain = plain
        self.map = mmap.mmap(-1, HEADER + capacity * RECORD)
        self.records = np.frombuffer(self.map, EVENT, count=capacity, offset=HEADER)
        self.head = 0
        # one aligned 8-byte store, as the shim's release store (struct.pack_into may
        # write byte by byte: the drain's thread could read a torn head)
        self._head = np.frombuffer(self.map, np.uint64, count=1, offset=HEAD)

    def publish(self, n: int) -> int:
        """Write up to n records where the consumer's tail allows; returns how many."""
        tail = struct.unpack_from("=Q", self.map, TAIL)[0]
        n = min(n, self.capacity - (self.head - tail))
        for i in range(n):
            rec = self.records[(self.head + i) % self.capacity]
            rec["ts"] = self.head + i
            if not self.plain:
                big, small = (0x4000_0000, 0) if (self.head + i) % 2 else (0xC000_0000, 0x8000)
                rec["pid"], rec["tid"], rec["code"] = big, big, big
                rec["line"] = rec["arg"] = np.uint32(big).view(np.int32)
                rec["kind"], rec["flags"] = small, small
        self.head += n
        self._head[0] = self.head
        return n

    def tail(self) -> int:
        return struct.unpack_from("=Q", self.map, TAIL)[0]


def taken(drain: Drain, i: int, most: int = 1 << 30) -> list[int]:
    return np.frombuffer(drain.take(i, most), EVENT)["ts"].tolist()


def test_records_come_back_in_order_across_the_wrap():
    ring = Ring(8)
    d = Drain(1 << 20)
    i = d.add(ring.map, 8, 0, 1)
    got = []
    for n in (5, 6, 8, 3):             # wraps several times
        assert ring.publish(n) == n
        assert d.pump() == n
        assert ring.tail() == ring.head      # the slots are free again
        got += taken(d, i)
    assert got == list(range(22))
    assert d.ring(i)["queued"] == 0 and d.ring(i)["tail"] == 22


def test_take_hands_out_at_most_what_is_asked():
    ring = Ring(16)
    d = Drain(1 << 20)
    i = d.add(ring.map, 16, 0, 1)
    ring.publish(10)
    d.pump()
    assert taken(d, i, 4) == [0, 1, 2, 3]
    assert d.ring(i)["queued"] == 6
    assert taken(d, i) == [4, 5, 6, 7, 8, 9]


def test_past_memory_the_spill_holds_them_and_gives_the_space_back(tmp_path):
    """Memory for 4 records; the rest go to the spill, and come back in order.
    The spill's blocks are returned once what was read is committed (holes
    punched over the records; each run's header stays, to walk the file by)."""
    ring = Ring(1 << 12)
    d = Drain(4 * RECORD, tmp_path / "spill", 1 << 30)
    i = d.add(ring.map, 1 << 12, 0, 7)
    ring.publish(3)
    d.pump()
    assert not (tmp_path / "spill").exists()     # made only when memory does not suffice
    assert taken(d, i) == [0, 1, 2]
    for _ in range(4):
        ring.publish(1000)
        d.pump()
    stats = d.stats()
    assert stats["spilled"] == 4000 - 0 and stats["memory"] == 0       # 1000-record runs: none fit in 4
    assert stats["spill"] == 4000 * RECORD + 4 * 32                     # a 32-byte header per run
    assert os.stat(tmp_path / "spill").st_blocks * 512 >= 4000 * RECORD
    assert os.stat(tmp_path / "spill").st_mode & 0o777 == 0o600
    assert taken(d, i) == list(range(3, 4003))
    # taken, not yet committed: still on disk (a collector killed now loses none of it)
    assert d.stats()["spill"] == 4000 * RECORD + 4 * 32
    assert os.stat(tmp_path / "spill").st_blocks * 512 >= 4000 * RECORD
    assert d.commit() == 4
    assert d.stats()["spill"] == 0
    assert os.stat(tmp_path / "spill").st_blocks * 512 < 4000 * RECORD // 4   # given back
    data = (tmp_path / "spill").read_bytes()       # the records gone, the run headers kept
    off = 0
    for first in (3, 1003, 2003, 3003):
        assert struct.unpack_from("=QQQQ", data, off)[1:] == (7, first, 1000 | (1000 * RECORD) << 32)
        assert not any(data[off + 32 + 4096: off + 32 + 1000 * RECORD - 4096])
        off += 32 + 1000 * RECORD
    ring.publish(3)                      # small runs fit in memory again
    d.pump()
    assert d.stats()["memory"] == 3 * RECORD and taken(d, i) == [4003, 4004, 4005]
    d.close_spill()
    assert not (tmp_path / "spill").exists()


def test_spill_chunks_carry_a_header_naming_ring_and_position(tmp_path):
    """What a later reader of a spill left behind needs: magic, the ring's tag
    (scope's: pid | serial << 32), first record's position in the ring's
    sequence, count (then the raw records)."""
    ring = Ring(64)
    d = Drain(0, tmp_path / "spill", 1 << 20)
    d.add(ring.map, 64, 0, 4242)
    ring.publish(10)
    d.pump()
    data = (tmp_path / "spill").read_bytes()
    magic, pid, first, word = struct.unpack_from("=QQQQ", data, 0)
    assert (magic.to_bytes(8, "little"), pid, first, word) == (b"SCSPILL2", 4242, 0, 10 | (10 * RECORD) << 32)
    assert np.frombuffer(data, EVENT, count=10, offset=32)["ts"].tolist() == list(range(10))   # raw


def test_past_both_bounds_records_wait_in_the_ring(tmp_path):
    """Memory for 10 records, spill for 20 (plus headers): the rest stays in the
    ring (the shim would count what it then cannot write); once the backlog is
    read, draining resumes where it stopped, nothing skipped."""
    ring = Ring(256)
    d = Drain(10 * RECORD, tmp_path / "spill", 20 * RECORD + 32)
    i = d.add(ring.map, 256, 0, 1)
    ring.publish(10)
    d.pump()                  # memory
    ring.publish(20)
    d.pump()                  # spill
    ring.publish(50)
    assert d.pump() == 0      # neither has room
    assert ring.tail() == 30 and d.ring(i)["held"] >= 1
    assert taken(d, i) == list(range(30))
    d.commit()
    assert d.pump() == 0      # 50 records: more than memory takes in one run, and the spill's room
    assert taken(d, i) == []
    assert ring.tail() == 30


def test_a_head_moving_backwards_or_past_capacity_stops_the_draining():
    for bad, why in ((3, "backwards"), (10 + 17, "past its capacity")):
        ring = Ring(16)
        d = Drain(1 << 20)
        i = d.add(ring.map, 16, 0, 1)
        ring.publish(10)
        d.pump()
        struct.pack_into("=Q", ring.map, HEAD, bad)
        assert d.pump() == 0
        state = d.ring(i)
        assert (state["broken"], state["bad_head"], state["tail"]) == (why, bad, 10)
        assert taken(d, i) == list(range(10))     # what came before is still read
        assert d.remove(i) == 0


def test_remove_counts_what_it_drops_and_lets_the_mapping_go():
    ring = Ring(16)
    d = Drain(1 << 20)
    i = d.add(ring.map, 16, 0, 1)
    with pytest.raises(BufferError):      # the drain holds the mapping: it cannot go under it
        ring.map.close()
    ring.publish(7)
    d.pump()
    assert d.remove(i) == 7
    with pytest.raises(KeyError):
        d.take(i, 1)
    del ring.records, ring._head
    ring.map.close()                       # released


def test_a_spill_that_cannot_be_made_is_said_and_the_records_wait(tmp_path):
    """The spill's path already taken (by a link, say): not followed, not
    overwritten; the error is kept, and what memory cannot hold stays in the ring."""
    (tmp_path / "spill").symlink_to(tmp_path / "elsewhere")
    ring = Ring(64)
    d = Drain(0, tmp_path / "spill", 1 << 20)
    i = d.add(ring.map, 64, 0, 1)
    ring.publish(10)
    assert d.pump() == 0 and ring.tail() == 0
    assert d.stats()["error"].startswith(f"creating the spill {tmp_path / 'spill'}: File exists")
    assert not (tmp_path / "elsewhere").exists()
    assert taken(d, i) == []


def test_a_spill_that_cannot_be_read_back_is_counted_not_retried(tmp_path):
    """The spill cut short under the drain (as a full or failing disk might):
    the runs it cannot read back are counted as unreadable and dropped, the
    rest read in order; a take never waits on them forever."""
    ring = Ring(1 << 10)
    d = Drain(0, tmp_path / "spill", 1 << 20)
    i = d.add(ring.map, 1 << 10, 0, 1)
    for _ in range(3):
        ring.publish(100)
        d.pump()                     # three runs of 100 in the spill
    os.truncate(tmp_path / "spill", 32 + 100 * RECORD + 32 + 50 * RECORD)   # mid-second run
    got = taken(d, i)
    assert got == list(range(100))       # the first run; the others cannot be read
    assert d.stats()["unreadable"] == 200 and d.ring(i)["queued"] == 0
    assert d.stats()["error"].startswith("reading the spill back")
    ring.publish(5)
    assert d.pump() == 0                 # no new spill after an error: the records wait in the ring


def test_a_mapping_of_the_wrong_size_is_refused():
    ring = Ring(16)
    with pytest.raises(ValueError, match="not a ring of that capacity"):
        Drain(1 << 20).add(ring.map, 32, 0, 1)
    with pytest.raises(ValueError):
        Drain(1 << 20).add(ring.map, 12, 0, 1)


def test_its_thread_drains_while_the_producer_writes():
    """A ring of 64 records and 100,000 published: only possible if the thread
    keeps freeing slots while this producer waits for them."""
    ring = Ring(64)
    d = Drain(1 << 30)
    i = d.add(ring.map, 64, 0, 1)
    d.start()
    try:
        deadline = time.monotonic() + 30
        while ring.head < 100_000 and time.monotonic() < deadline:
            ring.publish(100_000 - ring.head)
        got = []
        while len(got) < 100_000 and time.monotonic() < deadline:
            got += taken(d, i)
    finally:
        d.stop()
    assert got == list(range(100_000))


def test_a_take_keeps_only_what_comes_before_the_first_record_it_refuses():
    """Through RingConsumer: a good call, then a call naming an id no shim gives,
    then a record of a flag no shim sets. Only the first is kept, whichever rule
    the second breaks; the next take refuses the ring."""
    import fcntl

    from scope import kinds
    from scope.collector.shmring import RingConsumer, RingRefused
    size = HEADER + 64 * RECORD
    fd = os.memfd_create("scope-ring", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, size)
        with mmap.mmap(fd, size) as m:
            struct.pack_into("=QIIQQ", m, 0, 0x31474E4952504F43, 1, 32, 64, os.getpid())
            for i, (code, flags) in enumerate(((0xE0000001, 0), (0xF0000001, 0), (0xE0000001, 0x400))):
                struct.pack_into("=QIIIiHHi", m, HEADER + RECORD * i, 5 + i, os.getpid(), os.getpid(), code, 3,
                                 kinds.CALL, flags, 0)
            struct.pack_into("=Q", m, HEAD, 3)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
        consumer = RingConsumer(os.getpid(), fd, size)
        assert consumer.take()["ts"].tolist() == [5]
        assert consumer.rejected == 2
        with pytest.raises(RingRefused, match="no shim writes"):
            consumer.take()
        consumer.close()
    finally:
        os.close(fd)


def test_while_a_run_waits_in_the_spill_new_records_follow_it_there(tmp_path):
    """Memory always holds older records than the spill: a collector killed
    loses a prefix of what waited (counted from the first spilled run's
    position), never records between spilled runs."""
    ring = Ring(1 << 10)
    d = Drain(10 * RECORD, tmp_path / "spill", 1 << 20)
    i = d.add(ring.map, 1 << 10, 0, 7)
    ring.publish(8)
    d.pump()                   # memory
    ring.publish(5)
    d.pump()                   # no room in memory: the spill
    assert np.frombuffer(d.take(i, 8), EVENT)["ts"].tolist() == list(range(8))
    assert d.stats()["memory"] == 0
    ring.publish(2)            # memory has room now, but a spilled run waits: behind it
    d.pump()
    assert d.stats()["memory"] == 0 and d.stats()["spilled"] == 7
    assert taken(d, i) == list(range(8, 15))
    ring.publish(2)            # nothing spilled waits: memory again
    d.pump()
    assert d.stats()["memory"] == 2 * RECORD


def test_a_flood_spills_encoded_and_comes_back_exact(tmp_path):
    """Records like a flood's (only ts moving) are spilled delta-encoded, at
    a few bytes each: the header says the run's size, the spill's bytes are
    what was written, and every field comes back as it was."""
    ring = Ring(1 << 12, plain=True)
    d = Drain(0, tmp_path / "spill", 1 << 30)
    i = d.add(ring.map, 1 << 12, 0, 9)
    ring.publish(3000)
    d.pump()
    data = (tmp_path / "spill").read_bytes()
    magic, tag, first, word = struct.unpack_from("=QQQQ", data, 0)
    count, size = word & 0xFFFFFFFF, word >> 32
    assert (magic.to_bytes(8, "little"), tag, first, count) == (b"SCSPILL2", 9, 0, 3000)
    assert size < 3000 * 3 and len(data) == 32 + size
    assert d.stats()["spill"] == 32 + size
    expected = bytes(ring.map[HEADER:HEADER + 3000 * RECORD])
    assert bytes(d.take(i, 1 << 20)) == expected
    d.commit()
    assert d.stats()["spill"] == 0


def test_a_run_that_does_not_decode_is_counted_not_read(tmp_path):
    """An encoded run overwritten on disk (a byte no record starts with): the
    take counts its records as unreadable and says why; the next run is read."""
    ring = Ring(1 << 12, plain=True)
    d = Drain(0, tmp_path / "spill", 1 << 30)
    i = d.add(ring.map, 1 << 12, 0, 9)
    for _ in range(2):
        ring.publish(500)
        d.pump()
    size = struct.unpack_from("=QQQQ", (tmp_path / "spill").read_bytes(), 0)[3] >> 32
    with open(tmp_path / "spill", "r+b") as fh:
        fh.seek(32)
        fh.write(b"\xff" * size)
    assert taken(d, i) == list(range(500, 1000))
    assert d.stats()["unreadable"] == 500
    assert d.stats()["error"] == "reading the spill back: a run that does not decode"
