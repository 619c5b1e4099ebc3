"""Where a running process's functions are, read by scope from the files it maps.

gdb (probes/inject.py) calls a few functions in the target; it is given their
addresses, not their names. gdb runs as the target's own user, and reads a
container's files through ``/proc/PID/root`` (it may not enter the target's
mount namespace): there an absolute symlink of the container's resolves to the
host's file of that name, and a host library would give gdb wrong addresses to
call. These addresses come from the very files the target maps (reached by
identity: probes.target.reach), their ``.dynsym`` read with pyelftools, bounded.
"""
from __future__ import annotations

import os
import re
import struct

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from .target import reach, regions_of
from .usdt import open_regular

MAX_FILE = 1 << 30             # bytes of one file searched (libpython with debug info: ~100 MiB)
MAX_SECTIONS = 4096
MAX_DYNSYM = 16 << 20          # bytes of .dynsym (libc's: ~60 KiB)
MAX_MAPS = 1 << 16             # lines of /proc/PID/maps read
# the C library, which holds mmap: glibc's and musl's names
LIBC = re.compile(r"/(libc[.-][^/]*so[^/]*|ld-musl-[^/]*\.so[^/]*|libc\.musl-[^/]*\.so[^/]*)$")


def _functions_in(path: str, names: list[str]) -> dict[str, int]:
    """Each of ``names`` that the ELF file ``path`` defines as a plain function
    (not an IFUNC: its address is a resolver's), relative to the file's first
    load segment. ValueError for a file that is not a bounded, well-formed ELF
    file (it is the target's)."""
    with os.fdopen(open_regular(path), "rb") as fh:
        if os.fstat(fh.fileno()).st_size > MAX_FILE:
            raise ValueError(f"{path} is larger than {MAX_FILE >> 20} MiB")
        try:
            elf = ELFFile(fh)
            if elf.num_sections() > MAX_SECTIONS:
                raise ValueError(f"{path} has more than {MAX_SECTIONS} sections")
            load = next((seg for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"), None)
            dynsym = elf.get_section_by_name(".dynsym")
            if load is None or dynsym is None:
                return {}
            if dynsym["sh_size"] > MAX_DYNSYM:
                raise ValueError(f"{path}: {dynsym['sh_size']} bytes of dynamic symbols (at most {MAX_DYNSYM})")
            base = load["p_vaddr"] - (load["p_vaddr"] % max(load["p_align"], 1))
            found = {}
            for name in names:
                for sym in dynsym.get_symbol_by_name(name) or ():
                    if (sym["st_info"]["type"] == "STT_FUNC" and sym["st_shndx"] != "SHN_UNDEF"
                            and sym["st_value"] >= base):
                        found[name] = sym["st_value"] - base
                        break
            return found
        except (ELFError, struct.error, KeyError, IndexError, AttributeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: malformed ELF ({type(exc).__name__})") from None


def libc_paths(pid: int) -> list[str]:
    """Paths here that open the C library(ies) ``pid`` maps (matched by identity)."""
    first: dict[str, tuple[int, int]] = {}
    with open(f"/proc/{pid}/maps") as fh:
        for count, line in enumerate(fh):
            if count >= MAX_MAPS:
                break
            parts = line.split(None, 5)
            if len(parts) == 6 and LIBC.search(parts[5].rstrip("\n")):
                start, end = (int(x, 16) for x in parts[0].split("-"))
                first.setdefault(parts[5].rstrip("\n"), (start, end))
    here = (reach(pid, path, start, end) for path, (start, end) in first.items())
    return [path for path in here if path is not None]


def function_addresses(pid: int, names: list[str], binaries: list[str]) -> dict[str, int]:
    """The address in ``pid`` of each of ``names`` found (the first file that
    defines it wins): searched in ``binaries`` (paths here to the interpreter's
    files, probes.target), then in its C library. Missing names are left out."""
    found: dict[str, int] = {}
    for path in [*binaries, *libc_paths(pid)]:
        missing = [name for name in names if name not in found]
        if not missing:
            break
        starts = [start for _, start, _, _ in regions_of(pid, [path])]
        if not starts:
            continue
        try:
            relative = _functions_in(path, missing)
        except (OSError, ValueError):
            continue
        found.update({name: min(starts) + offset for name, offset in relative.items()})
    return found
