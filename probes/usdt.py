"""Read SystemTap SDT (USDT) probe notes from an ELF file with pyelftools.

Each marker site becomes a :class:`UsdtSite` carrying what the kernel needs to
attach a uprobe to it: the file offset of the probe instruction and the file
offset of its semaphore (the kernel's ``ref_ctr_offset``), plus the argument
specifications (``8@%rbp``, ``-4@112(%rsp)``…) that say where each argument lives.
"""
from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from functools import lru_cache

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

NT_STAPSDT = 3
# The target's word: a binary it maps may be crafted. CPython's notes take
# ~10 KiB and the shim's less; past these the file is refused, not read.
MAX_NOTES = 1 << 20          # bytes of .note.stapsdt
MAX_SITES = 4096
MAX_DYNSYM = 16 << 20        # bytes of .dynsym (libpython3.11's: ~150 KiB)


@dataclass(frozen=True)
class UsdtSite:
    path: str
    provider: str
    name: str
    address: int          # virtual address of the probe instruction
    offset: int           # file offset of the probe instruction
    semaphore: int        # virtual address of the semaphore (0 = none)
    semaphore_offset: int  # file offset of the semaphore (0 = none)
    args: tuple[str, ...]

    @property
    def marker(self) -> str:
        return f"{self.provider}:{self.name}"


def _vaddr_to_offset(segments: list[tuple[int, int, int]], vaddr: int) -> int:
    for p_vaddr, p_offset, p_filesz in segments:
        if p_vaddr <= vaddr < p_vaddr + p_filesz:
            return vaddr - p_vaddr + p_offset
    raise ValueError(f"address {vaddr:#x} is in no loadable segment")


def _iter_notes(data: bytes, byteorder: str):
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from(byteorder + "III", data, pos)
        pos += 12
        name = data[pos:pos + namesz].rstrip(b"\0")
        pos += (namesz + 3) & ~3
        desc = data[pos:pos + descsz]
        pos += (descsz + 3) & ~3
        yield name, ntype, desc


# Functions of the interpreter probed at their entry, beside its markers, and
# the pseudo-marker each becomes ("uprobe:NAME"; probes/plan.py decides):
# _Py_MakeCoro runs when a generator function's frame has only created its
# generator (RETURN_GENERATOR). CPython 3.15 reports an entry marker for that
# frame and no return marker, so scope ends the call there.
FUNCTION_PROBES = ("_Py_MakeCoro",)
FUNCTION_PROVIDER = "uprobe"


def _load_segments(elf) -> list[tuple[int, int, int]]:
    return [(s["p_vaddr"], s["p_offset"], s["p_filesz"])
            for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]


def _function_sites(path: str, elf, segments) -> list[UsdtSite]:
    """Sites at the entry of FUNCTION_PROBES found in the dynamic symbol table
    (exported: a stripped binary keeps them)."""
    dynsym = elf.get_section_by_name(".dynsym")
    if dynsym is None:
        return []
    if dynsym["sh_size"] > MAX_DYNSYM:
        raise ValueError(f"{path}: {dynsym['sh_size']} bytes of dynamic symbols (at most {MAX_DYNSYM})")
    sites = []
    for name in FUNCTION_PROBES:
        for sym in dynsym.get_symbol_by_name(name) or ():
            if sym["st_info"]["type"] == "STT_FUNC" and sym["st_shndx"] != "SHN_UNDEF" and sym["st_value"]:
                addr = sym["st_value"]
                sites.append(UsdtSite(path=path, provider=FUNCTION_PROVIDER, name=name, address=addr,
                                      offset=_vaddr_to_offset(segments, addr), semaphore=0,
                                      semaphore_offset=0, args=()))
                break
    return sites


def open_regular(path: str) -> int:
    """A descriptor for reading the file ``path`` names, opened only once it is
    known to be a regular file: looked up with O_PATH (which opens nothing: a
    device's open has effects, a FIFO's blocks), checked, then reopened through
    the descriptor — the very file checked. ValueError for anything else."""
    ref = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(ref).st_mode):
            raise ValueError(f"{path} is not a regular file")
        return os.open(f"/proc/self/fd/{ref}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    finally:
        os.close(ref)


@lru_cache(maxsize=32)
def read_usdt_sites(path: str) -> tuple[UsdtSite, ...]:
    """All USDT sites of the ELF file at ``path`` (empty when it has none), and,
    when it has some, the FUNCTION_PROBES it defines. A file that is not a
    regular file, or whose notes are oversized or malformed, raises ValueError
    (it may be the target's: validated, never trusted)."""
    with os.fdopen(open_regular(path), "rb") as fh:
        try:
            return _read_sites(path, fh)
        except (ELFError, struct.error, IndexError, UnicodeDecodeError, KeyError) as exc:
            raise ValueError(f"{path}: malformed ELF or USDT notes ({type(exc).__name__})") from None


def _read_sites(path: str, fh) -> tuple[UsdtSite, ...]:
    elf = ELFFile(fh)
    notes = elf.get_section_by_name(".note.stapsdt")
    if notes is None:
        return ()
    if notes["sh_size"] > MAX_NOTES:
        raise ValueError(f"{path}: {notes['sh_size']} bytes of USDT notes (at most {MAX_NOTES})")
    base_sec = elf.get_section_by_name(".stapsdt.base")
    base_addr = base_sec["sh_addr"] if base_sec is not None else None
    segments = _load_segments(elf)
    order = "<" if elf.little_endian else ">"
    width = "Q" if elf.elfclass == 64 else "I"
    step = struct.calcsize(width)
    sites = []
    for name, ntype, desc in _iter_notes(notes.data(), order):
        if name != b"stapsdt" or ntype != NT_STAPSDT:
            continue
        pc, note_base, sem = struct.unpack_from(order + width * 3, desc, 0)
        strings = desc[3 * step:].split(b"\0")
        provider, probe = strings[0].decode(), strings[1].decode()
        args = tuple(strings[2].decode().split()) if len(strings) > 2 else ()
        if base_addr is not None:
            # prelink may move the file; the note records the base it assumed
            pc += base_addr - note_base
            if sem:
                sem += base_addr - note_base
        if len(sites) >= MAX_SITES:
            raise ValueError(f"{path}: more than {MAX_SITES} USDT sites")
        sites.append(UsdtSite(
            path=path, provider=provider, name=probe, address=pc,
            offset=_vaddr_to_offset(segments, pc), semaphore=sem,
            semaphore_offset=_vaddr_to_offset(segments, sem) if sem else 0,
            args=args))
    return tuple(sites + _function_sites(path, elf, segments))


def python_sites(sites) -> list[UsdtSite]:
    """The sites scope uses: CPython's and the shim's markers, and the function
    probes of a binary that has CPython's markers."""
    markers = any(s.provider == "python" for s in sites)
    return [s for s in sites if s.provider in ("python", "scope") or (markers and s.provider == FUNCTION_PROVIDER)]
