"""What scope learns of an interpreter (probes/interp.py) it reads from the
file, never by running it: the facts read from real interpreters equal what
each says of itself when the TEST runs it (scope never does), and a file that
is not a CPython 3.11-3.15 of this machine is refused with one clear line."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from scope.probes.interp import ShimBuildError, interpreter_info
from tests.interpreters import pyenv_python

SID = Path(os.environ.get("SCOPE_CONTAINER_CACHE", "/var/cache/scope-container")) / "root"
_TRUTH = ("import json, sys, sysconfig; print(json.dumps({'version': list(sys.version_info[:2]), "
          "'hexversion': sys.hexversion, 'suffix': sysconfig.get_config_var('EXT_SUFFIX'), "
          "'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED')), "
          "'include': sysconfig.get_paths()['include']}))")


def interpreters():
    found = [pytest.param("/usr/bin/python3.11", None, id="debian-3.11")]
    for version in ("3.11.7", "3.12.1", "3.13.0"):
        found.append(pytest.param(str(pyenv_python(version)), None, id=f"pyenv-{version}"))
    for minor in ("3.14", "3.15"):
        found.append(pytest.param(f"/usr/bin/python{minor}", SID, id=f"sid-{minor}"))
    return found


def truth(python: str, root: Path | None) -> dict:
    """What the trusted interpreter says of itself (run by the test, never by scope)."""
    cmd = ["chroot", str(root), python] if root else [python]
    out = subprocess.run([*cmd, "-I", "-S", "-c", _TRUTH], capture_output=True, text=True, timeout=60, check=True)
    said = json.loads(out.stdout)
    if root:
        said["include"] = str(root) + said["include"]
    return said


@pytest.mark.parametrize("python,root", interpreters())
def test_the_facts_read_equal_what_the_interpreter_says(python, root):
    path = str(root) + python if root else python
    if not os.path.exists(path):
        pytest.skip(f"no {path} (./setup.sh installs it)")
    said = truth(python, root)
    info = interpreter_info(path)
    assert list(info.version) == said["version"] and info.hexversion == said["hexversion"]
    assert info.suffix == said["suffix"] and info.free_threaded == said["free_threaded"]
    assert info.include == said["include"]
    assert Path(info.include, "Python.h").is_file()


def test_a_pyenv_interpreter_read_through_the_libpython_it_maps():
    """pyenv's executable holds no version: its libpython does (given, as a
    running target's mapped files are, or found as the loader would)."""
    exe = pyenv_python("3.12.1")
    if not exe.exists():
        pytest.skip(f"no {exe} (./setup.sh installs it)")
    lib = exe.parent.parent / "lib" / "libpython3.12.so.1.0"
    assert interpreter_info(str(exe), [str(lib)]) == interpreter_info(str(exe))
    with open(exe, "rb") as fh:        # the control: the executable alone says nothing
        dynsym = ELFFile(fh).get_section_by_name(".dynsym")
        assert not dynsym.get_symbol_by_name("Py_Version")


@pytest.fixture
def folder():
    path = Path(tempfile.mkdtemp(prefix="scope-interp-"))
    yield path
    shutil.rmtree(path)


def test_a_deleted_executable_is_read_through_proc_exe_and_named_as_the_kernel_names_it(folder):
    """A target's executable deleted and its path given to something else: the
    file read is the one it runs, the prefix the one it ran from."""
    (folder / "bin").mkdir()
    copy = folder / "bin" / "python3.11"
    shutil.copy("/usr/bin/python3.11", copy)
    proc = subprocess.Popen([str(copy), "-c", "import time; time.sleep(60)"])
    try:
        copy.unlink()
        copy.write_text("#!/bin/sh\n")           # its path now names another file
        info = interpreter_info(f"/proc/{proc.pid}/exe")
    finally:
        proc.kill()
        proc.wait()
    assert info.path == str(copy) and info.version == (3, 11) and info.include == f"{folder}/include/python3.11"


def _patched(src: str, dest: Path, symbol_or_section: str, value: int, width: int = 8, at: int = 0) -> Path:
    """A copy of ``src`` with ``value`` written at a symbol's (or section's start + at) place in the file."""
    shutil.copy(src, dest)
    with open(dest, "r+b") as fh:
        elf = ELFFile(fh)
        section = elf.get_section_by_name(symbol_or_section)
        if section is not None:
            offset = section["sh_offset"] + at
        else:
            sym = elf.get_section_by_name(".dynsym").get_symbol_by_name(symbol_or_section)[0]
            holder = elf.get_section(sym["st_shndx"])
            offset = holder["sh_offset"] + sym["st_value"] - holder["sh_addr"]
        fh.seek(offset)
        fh.write(value.to_bytes(width, "little"))
    return dest


def _bad_files(folder: Path) -> dict:
    (folder / "text").write_text("not an interpreter\n")
    os.mkfifo(folder / "fifo")
    (folder / "truncated").write_bytes(Path("/usr/bin/python3.11").read_bytes()[:4096])
    shutil.copy("/bin/ls", folder / "ls")
    shutil.copy("/usr/bin/python3.11", folder / "python3.12")
    old = _patched("/usr/bin/python3.11", folder / "python2", "Py_Version", 0x020718F0)
    other = folder / "foreign"
    shutil.copy("/usr/bin/python3.11", other)
    with open(other, "r+b") as fh:       # e_machine: AArch64
        fh.seek(18)
        fh.write((183).to_bytes(2, "little"))
    return {"text": "is not a CPython interpreter scope can read", "fifo": "is not a regular file",
            "truncated": "is not a CPython interpreter scope can read", "ls": "no Py_Version",
            "python3.12": "says CPython 3.11 but is named python3.12",
            old.name: "is CPython 2.7; the shim supports 3.11 to 3.15", other.name: "for EM_AARCH64"}


def test_files_that_are_no_interpreter_get_one_clear_error(folder):
    for name, message in _bad_files(folder).items():
        with pytest.raises(ShimBuildError, match=message) as caught:
            interpreter_info(str(folder / name))
        assert "\n" not in str(caught.value) and caught.value.fix, name


def test_inconsistent_version_records_are_refused(folder):
    """3.13+: the debug offsets repeat the version; a file whose two records
    disagree is no genuine CPython (the unpatched copy is the control)."""
    src = SID / "usr" / "bin" / "python3.14"
    if not src.exists():
        pytest.skip(f"no {src} (./setup.sh builds it)")
    shutil.copy(src, folder / "python3.14")
    assert interpreter_info(str(folder / "python3.14")).version == (3, 14)
    _patched(str(src), folder / "python3.14", ".PyRuntime", 0x030F00F0, at=8)
    with pytest.raises(ShimBuildError, match="inconsistent version records"):
        interpreter_info(str(folder / "python3.14"))
    _patched(str(src), folder / "python3.14", ".PyRuntime", 7, at=16)      # free_threaded: neither 0 nor 1
    with pytest.raises(ShimBuildError, match="inconsistent version records"):
        interpreter_info(str(folder / "python3.14"))


def test_nothing_is_run(folder, monkeypatch):
    """Reading never starts a process of the interpreter's (only the host's own
    gcc, once, for the multiarch tuple)."""
    from scope.probes import interp
    interp.multiarch()
    started = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: started.append(a))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(a))
    monkeypatch.setattr(os, "execv", lambda *a: started.append(a))
    assert interpreter_info(sys.executable).version >= (3, 11)
    assert started == []


def test_a_free_threaded_build_is_told_by_its_debug_offsets_and_its_name(folder):
    """No free-threaded CPython is to be had here: sid's 3.14 with its debug
    offsets' flag set stands in. Named python3.14t it is one (suffix and
    headers with the t); named python3.14 its two words disagree."""
    src = SID / "usr" / "bin" / "python3.14"
    if not src.exists():
        pytest.skip(f"no {src} (./setup.sh builds it)")
    (folder / "bin").mkdir()
    _patched(str(src), folder / "bin" / "python3.14t", ".PyRuntime", 1, at=16)
    info = interpreter_info(str(folder / "bin" / "python3.14t"))
    assert info.free_threaded and info.suffix == ".cpython-314t-x86_64-linux-gnu.so"
    assert info.include == f"{folder}/include/python3.14t"
    os.rename(folder / "bin" / "python3.14t", folder / "bin" / "python3.14")
    with pytest.raises(ShimBuildError, match="says CPython 3.14t but is named python3.14"):
        interpreter_info(str(folder / "bin" / "python3.14"))


def test_an_interpreter_older_than_3_11_is_named_as_such(folder):
    """Before 3.11 there is no Py_Version: the name says which CPython it is.
    (A python3.11 whose Py_Version symbol is renamed, named python3.10.)"""
    (folder / "bin").mkdir()
    old = folder / "bin" / "python3.10"
    shutil.copy("/usr/bin/python3.11", old)
    with open(old, "r+b") as fh:
        dynstr = ELFFile(fh).get_section_by_name(".dynstr")
        fh.seek(dynstr["sh_offset"])
        at = fh.read(dynstr["sh_size"]).index(b"\0Py_Version\0")
        fh.seek(dynstr["sh_offset"] + at + len("\0Py_Versio"))
        fh.write(b"X")
    with pytest.raises(ShimBuildError, match=r"is CPython 3.10 \(by its name\); the shim supports 3.11 to 3.15"):
        interpreter_info(str(old))
