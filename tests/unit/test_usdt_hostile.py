"""A binary the target maps may be crafted: scope reads its USDT notes as
untrusted input — bounded, and a malformed file refused with ValueError (which
probes/target.py turns into one line), never a crash or an endless read."""
from __future__ import annotations

import os
import struct
import threading

import pytest
from elftools.elf.elffile import ELFFile

from scope.probes import usdt
from scope.probes.usdt import MAX_NOTES, read_usdt_sites

PYTHON = "/usr/bin/python3.11"


def _section(data: bytes, name: str):
    """(offset of its section header entry, its sh_offset, its sh_size) in a 64-bit little-endian ELF."""
    import io
    elf = ELFFile(io.BytesIO(data))
    for index, sec in enumerate(elf.iter_sections()):
        if sec.name == name:
            return elf["e_shoff"] + index * elf["e_shentsize"], sec["sh_offset"], sec["sh_size"]
    raise LookupError(name)


@pytest.fixture
def crafted(tmp_path):
    """A copy of Debian's python3.11 (which has CPython's markers) to damage."""
    if not os.path.exists(PYTHON):
        pytest.skip(f"{PYTHON} is not installed (run ./setup.sh)")
    usdt.read_usdt_sites.cache_clear()
    data = bytearray(open(PYTHON, "rb").read())
    path = tmp_path / "python3.11"

    def write(blob) -> str:
        path.write_bytes(bytes(blob))
        usdt.read_usdt_sites.cache_clear()
        return str(path)
    yield data, write
    usdt.read_usdt_sites.cache_clear()


def test_the_intact_copy_has_its_sites(crafted):
    data, write = crafted
    sites = read_usdt_sites(write(data))            # positive control for every damage below
    assert {s.name for s in sites} >= {"function__entry", "function__return", "gc__start"}


def test_notes_claiming_more_than_the_bound_are_refused(crafted):
    data, write = crafted
    header, _, _ = _section(data, ".note.stapsdt")
    struct.pack_into("<Q", data, header + 32, MAX_NOTES + 1)      # sh_size
    with pytest.raises(ValueError, match="bytes of USDT notes"):
        read_usdt_sites(write(data))


def test_a_truncated_note_is_refused_not_a_crash(crafted):
    data, write = crafted
    _, offset, size = _section(data, ".note.stapsdt")
    namesz, descsz, _ = struct.unpack_from("<III", data, offset)
    struct.pack_into("<I", data, offset + 4, 4)     # the first note's description: 4 bytes, not 3 addresses
    with pytest.raises(ValueError, match="malformed"):
        read_usdt_sites(write(data))


def test_undecodable_provider_names_are_refused(crafted):
    data, write = crafted
    _, offset, size = _section(data, ".note.stapsdt")
    namesz, descsz, _ = struct.unpack_from("<III", data, offset)
    strings = offset + 12 + ((namesz + 3) & ~3) + 24
    data[strings] = 0xFF                             # "python" -> b"\xffython"
    with pytest.raises(ValueError, match="malformed"):
        read_usdt_sites(write(data))


def test_a_fifo_never_blocks(tmp_path):
    fifo = tmp_path / "libpython3.11.so"
    os.mkfifo(fifo)
    done = []
    reader = threading.Thread(target=lambda: done.append(_refused(str(fifo))), daemon=True)
    reader.start()
    reader.join(10)
    assert done == [True]


def _refused(path: str) -> bool:
    try:
        read_usdt_sites(path)
    except ValueError as exc:
        return "not a regular file" in str(exc)
    return False
