"""What scope must know about a CPython interpreter to build the shim for it,
read from the interpreter's file — never by running it.

Running the target's interpreter (even ``-I -S``) runs the target's code: it
reads a ``pyvenv.cfg`` beside the path it was started from, and imports
``encodings`` from wherever that file points, before any option can stop it.
So the facts come from the ELF file itself, through one descriptor scope holds
(``/proc/PID/exe`` reaches a target's executable even when it was deleted and
its path now names something else):

* the version: the exported ``Py_Version`` (``PY_VERSION_HEX``, 3.11+), in the
  executable or in the libpython it loads; on 3.13+ also the ``_Py_DebugOffsets``
  at the start of ``.PyRuntime`` (cookie ``xdebugpy``, the version again, and
  whether the build is free-threaded); each checked against the other and
  against the version in the file names (``python3.X``, ``libpython3.X``);
* the extension suffix: ``.cpython-3XY[t]-<multiarch>.so``, the multiarch
  tuple being this machine's own (its gcc, else its platform);
* the include folder: ``<prefix>/include/python3.X[t]``, the prefix being the
  folder holding the real file's ``bin``.

Every number read is bounded and checked: a crafted file gives one clear error.
"""
from __future__ import annotations

import os
import platform
import re
import struct
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..errors import ScopeError
from .usdt import open_regular

MAX_FILE = 1 << 30            # an interpreter or libpython (with debug info: ~100 MiB)
MAX_SECTIONS = 4096
MAX_DYNSYM = 16 << 20         # bytes of .dynsym (libpython3.12's: ~200 KiB)
MAX_DYNAMIC = 64 << 10        # bytes of .dynamic
OLDEST, NEWEST = (3, 11), (3, 15)
COOKIE = b"xdebugpy"
_EXE_NAME = re.compile(r"python(\d+)\.(\d+)(t?)")
_LIB_NAME = re.compile(r"libpython(\d+)\.(\d+)(t?)\.so(?:\.[0-9.]+)?")
_MULTIARCH = re.compile(r"[a-z0-9_]+(?:-[a-z0-9_]+){1,3}")


class ShimBuildError(ScopeError):
    fix = "install the interpreter's headers (Debian: apt-get install python3.X-dev) and gcc"


@dataclass(frozen=True)
class Interpreter:
    """A CPython interpreter as its file says it is."""
    path: str                  # the kernel's name of the executable read
    version: tuple[int, int]
    hexversion: int
    free_threaded: bool
    suffix: str                # extension modules' suffix, e.g. .cpython-311-x86_64-linux-gnu.so
    prefix: str | None         # install prefix (None: the file is in no bin folder)
    owner: int                 # uid owning the executable

    @property
    def name(self) -> str:
        return f"python{self.version[0]}.{self.version[1]}{'t' if self.free_threaded else ''}"

    @property
    def include(self) -> str | None:
        """The folder its Python.h should be in."""
        return None if self.prefix is None else os.path.join(self.prefix, "include", self.name)


@dataclass(frozen=True)
class ElfFacts:
    """What one ELF file says: its Py_Version (None: not there), its debug offsets'
    version and free-threading flag (None: no .PyRuntime cookie), its needed
    libraries, its run paths."""
    hexversion: int | None
    debug_version: int | None
    debug_free_threaded: int | None
    needed: tuple[str, ...]
    runpath: tuple[str, ...]


@lru_cache(maxsize=1)
def host_machine() -> tuple[str, int, bool]:
    """(e_machine, ELF class, little-endian) of this machine: scope's own running interpreter's."""
    with open("/proc/self/exe", "rb") as fh:
        elf = ELFFile(fh)
        return elf["e_machine"], elf.elfclass, elf.little_endian


@lru_cache(maxsize=1)
def multiarch() -> str:
    """This machine's multiarch tuple (x86_64-linux-gnu): the host's own gcc says
    it (a trusted program, no input of any target), else the platform."""
    try:
        out = subprocess.run(["/usr/bin/gcc", "-print-multiarch"], capture_output=True, text=True,
                             timeout=30, env={"PATH": "/usr/bin:/bin"}, cwd="/").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    if not _MULTIARCH.fullmatch(out):
        out = f"{platform.machine()}-linux-gnu"
    return out


def _open(path: str) -> int:
    """A descriptor on the file ``path`` names now (a FIFO never blocks), checked
    to be a regular file of plausible size."""
    try:
        fd = open_regular(path)          # nothing but a regular file is ever opened
    except OSError as exc:
        raise ShimBuildError(f"cannot open {path} ({exc.strerror})", "name a CPython interpreter") from None
    except ValueError:
        raise ShimBuildError(f"{path} is not a regular file of at most {MAX_FILE >> 20} MiB",
                             "name a CPython interpreter") from None
    st = os.fstat(fd)
    if st.st_size > MAX_FILE:
        os.close(fd)
        raise ShimBuildError(f"{path} is not a regular file of at most {MAX_FILE >> 20} MiB",
                             "name a CPython interpreter")
    return fd


def kernel_name(fd: int) -> str:
    """The file's path as the kernel names it (a deleted file: its last path)."""
    name = os.readlink(f"/proc/self/fd/{fd}")
    return name[:-len(" (deleted)")] if name.endswith(" (deleted)") else name


def _value(elf, fh, symbol, size: int) -> int:
    """The integer a data symbol holds in the file, read from its section."""
    if not isinstance(symbol["st_shndx"], int):
        raise ValueError("Py_Version is in no section")
    section = elf.get_section(symbol["st_shndx"])
    start, length = symbol["st_value"] - section["sh_addr"], symbol["st_size"]
    if (section["sh_type"] != "SHT_PROGBITS" or length not in (4, 8) or start < 0
            or start + length > section["sh_size"] or section["sh_offset"] + start + length > size):
        raise ValueError("Py_Version lies outside its section")
    fh.seek(section["sh_offset"] + start)
    return int.from_bytes(fh.read(length), "little" if elf.little_endian else "big")


def elf_facts(fh, size: int) -> ElfFacts:
    """Read the facts of the ELF file open as ``fh`` (``size`` bytes). Raises
    ValueError (or pyelftools' ELFError) on anything implausible."""
    elf = ELFFile(fh)
    if (elf["e_machine"], elf.elfclass, elf.little_endian) != host_machine():
        raise ValueError(f"an ELF file for {elf['e_machine']}, not this machine")
    if elf["e_type"] not in ("ET_EXEC", "ET_DYN") or elf.num_sections() > MAX_SECTIONS:
        raise ValueError(f"{elf['e_type']} with {elf.num_sections()} sections is no interpreter")
    hexversion = None
    dynsym = elf.get_section_by_name(".dynsym")
    if dynsym is not None:
        if dynsym["sh_size"] > MAX_DYNSYM:
            raise ValueError(f"{dynsym['sh_size']} bytes of dynamic symbols (at most {MAX_DYNSYM})")
        for sym in dynsym.get_symbol_by_name("Py_Version") or ():
            if sym["st_shndx"] != "SHN_UNDEF" and sym["st_info"]["type"] == "STT_OBJECT":
                hexversion = _value(elf, fh, sym, size)
                break
    debug_version = free_threaded = None
    runtime = elf.get_section_by_name(".PyRuntime")
    if runtime is not None and runtime["sh_type"] == "SHT_PROGBITS" and runtime["sh_size"] >= 24:
        if runtime["sh_offset"] + 24 > size:
            raise ValueError(".PyRuntime lies outside the file")
        fh.seek(runtime["sh_offset"])
        head = fh.read(24)
        if head[:8] == COOKIE:
            debug_version, free_threaded = struct.unpack(("<" if elf.little_endian else ">") + "QQ", head[8:])
    needed, runpath = [], []
    dynamic = elf.get_section_by_name(".dynamic")
    if dynamic is not None and dynamic["sh_type"] == "SHT_DYNAMIC":
        if dynamic["sh_size"] > MAX_DYNAMIC:
            raise ValueError(f"{dynamic['sh_size']} bytes of dynamic section (at most {MAX_DYNAMIC})")
        for tag in dynamic.iter_tags():
            if tag.entry.d_tag == "DT_NEEDED":
                needed.append(tag.needed)
            elif tag.entry.d_tag in ("DT_RUNPATH", "DT_RPATH"):
                runpath.extend((getattr(tag, "runpath", None) or getattr(tag, "rpath", "")).split(":"))
    return ElfFacts(hexversion, debug_version, free_threaded, tuple(needed), tuple(p for p in runpath if p))


def _facts_of(path: str) -> tuple[ElfFacts, str, os.stat_result]:
    fd = _open(path)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        name = kernel_name(fd)
        try:
            return elf_facts(fh, st.st_size), name, st
        except (ELFError, ValueError, struct.error, IndexError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ShimBuildError(f"{path} is not a CPython interpreter scope can read ({exc or type(exc).__name__})",
                                 "name a CPython 3.11-3.15 interpreter") from None


def _library_candidates(needed: str, exe: str, facts: ElfFacts) -> list[str]:
    """Where the loader would find ``needed`` for ``exe``: its run paths
    ($ORIGIN being its folder), its prefix's lib, then the system's."""
    origin = os.path.dirname(exe)
    folders = [p.replace("$ORIGIN", origin).replace("${ORIGIN}", origin) for p in facts.runpath]
    folders += [os.path.join(os.path.dirname(origin), "lib"), f"/usr/lib/{multiarch()}", "/usr/lib",
                f"/lib/{multiarch()}", "/lib"]
    return [os.path.join(f, needed) for f in folders if f.startswith("/")]


def _names_version(names: list[str]) -> set[tuple[int, int, bool]]:
    found = set()
    for name in names:
        base = os.path.basename(name)
        m = _EXE_NAME.fullmatch(base) or _LIB_NAME.fullmatch(base)
        if m:
            found.add((int(m.group(1)), int(m.group(2)), m.group(3) == "t"))
    return found


def interpreter_info(exe: str, libraries: tuple[str, ...] | list[str] = ()) -> Interpreter:
    """The facts of the CPython interpreter ``exe`` (a path opened once, e.g.
    ``/proc/PID/exe``), read from its file and, when the version lives in a
    libpython, from that library: one of ``libraries`` (paths to the files a
    running target maps) or else the one its ``DT_NEEDED`` names, found as the
    loader would. Raises ShimBuildError, with one line saying why, for anything
    that is not a CPython 3.11-3.15 interpreter of this machine."""
    facts, name, st = _facts_of(exe)
    source, source_name = facts, name
    if facts.hexversion is None:
        wanted = [n for n in facts.needed if _LIB_NAME.fullmatch(n)]
        candidates = list(libraries) + [c for n in wanted for c in _library_candidates(n, name, facts)]
        for path in candidates:
            if not os.path.exists(path):
                continue
            lib, lib_name, _ = _facts_of(path)
            if lib.hexversion is not None and (not wanted or os.path.basename(lib_name) in wanted):
                source, source_name = lib, lib_name
                break
    hexversion = source.hexversion
    named = _names_version([name, source_name])
    if hexversion is None and named and min(named)[:2] < OLDEST:      # Py_Version is new in 3.11
        old = min(named)
        raise ShimBuildError(f"{exe} is CPython {old[0]}.{old[1]} (by its name); the shim supports 3.11 to 3.15",
                             "run the program with CPython 3.11 to 3.15")
    if hexversion is None:
        raise ShimBuildError(f"{exe} is not a CPython 3.11+ interpreter (no Py_Version in it or its libpython)",
                             "name a CPython 3.11-3.15 interpreter")
    version = (hexversion >> 24, (hexversion >> 16) & 0xFF)
    if version[0] != 3 or not OLDEST <= version <= NEWEST:
        raise ShimBuildError(f"{exe} is CPython {version[0]}.{version[1]}; the shim supports 3.11 to 3.15",
                             "run the program with CPython 3.11 to 3.15")
    free_threaded = False
    if version >= (3, 13):
        if source.debug_version != hexversion or source.debug_free_threaded not in (0, 1):
            raise ShimBuildError(f"{exe} has inconsistent version records (Py_Version {hexversion:#x}, "
                                 f"_Py_DebugOffsets {source.debug_version!r})", "name a genuine CPython interpreter")
        free_threaded = source.debug_free_threaded == 1
    if named - {(*version, free_threaded)}:
        raise ShimBuildError(f"{exe} says CPython {version[0]}.{version[1]}{'t' if free_threaded else ''} "
                             f"but is named {os.path.basename(name)} / {os.path.basename(source_name)}",
                             "name a genuine CPython interpreter")
    folder = os.path.dirname(name)
    prefix = os.path.dirname(folder) if os.path.basename(folder) == "bin" else None
    suffix = f".cpython-{version[0]}{version[1]}{'t' if free_threaded else ''}-{multiarch()}.so"
    return Interpreter(path=name, version=version, hexversion=hexversion, free_threaded=free_threaded,
                       suffix=suffix, prefix=prefix or None, owner=st.st_uid)
