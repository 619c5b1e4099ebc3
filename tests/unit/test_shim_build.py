"""The shim's compile output and cache (probes/build.py): root takes from the
compiler only a regular file that is an ELF shared object of this machine,
opened without following links; a cache entry whose digest does not match is
built again, never loaded; a checkout only root can read still builds."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from scope.probes import build, shim
from scope.probes.interp import ShimBuildError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="scope builds as root")
GOOD = Path("/usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so")


def test_a_real_shared_object_is_accepted(tmp_path):
    """The control for every refusal below."""
    copy = tmp_path / "good.so"
    shutil.copy(GOOD, copy)
    assert build.checked_shared_object(copy, os.geteuid()) == GOOD.read_bytes()


def _link_to_good(path: Path) -> None:
    os.symlink(GOOD, path)


def _link_to_shadow(path: Path) -> None:
    os.symlink("/etc/shadow", path)


def _text(path: Path) -> None:
    path.write_text("#!/bin/sh\n")


def _oversize(path: Path) -> None:
    path.touch()
    os.truncate(path, build.MAX_OUTPUT + 1)


def _foreign(path: Path) -> None:
    shutil.copy(GOOD, path)
    with open(path, "r+b") as fh:
        fh.seek(18)
        fh.write((183).to_bytes(2, "little"))      # e_machine: AArch64


def _executable(path: Path) -> None:
    shutil.copy("/usr/bin/python3.11", path)


@pytest.mark.parametrize("make,reason", [
    (_link_to_good, "cannot be opened safely"), (_link_to_shadow, "cannot be opened safely"),
    (os.mkfifo, "not a regular file"), (_text, "not an ELF file"), (_oversize, r"bytes \(at most"),
    (_foreign, "for EM_AARCH64"), (_executable, "ET_EXEC"),
])
def test_what_a_compile_must_not_hand_root_is_refused(tmp_path, make, reason):
    path = tmp_path / "x.so"
    make(path)
    said = []
    worker = threading.Thread(target=lambda: said.append(_refusal(path)), daemon=True)
    worker.start()
    worker.join(10)                               # a FIFO must not block the check
    assert said and re.search(reason, said[0]), said


def _refusal(path: Path) -> str:
    try:
        build.checked_shared_object(path, None)
    except ShimBuildError as exc:
        return str(exc)
    return "accepted"


def test_a_hard_link_or_a_file_of_another_owner_is_refused(tmp_path):
    copy = tmp_path / "good.so"
    shutil.copy(GOOD, copy)
    with pytest.raises(ShimBuildError, match="owned by 0, not 65530"):
        build.checked_shared_object(copy, build.BUILD_ID)
    os.link(copy, tmp_path / "second")
    with pytest.raises(ShimBuildError, match="2 links"):
        build.checked_shared_object(copy, None)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setattr(shim, "SHIM_CACHE", folder)
    return folder


def _extension(entry: Path) -> Path:
    return shim.shim_extension(entry)


def test_an_entry_whose_digest_does_not_match_is_built_again(cache):
    entry = shim.build_shim("/usr/bin/python3.11")
    ext = _extension(entry)
    made, ino = ext.read_bytes(), ext.stat().st_ino
    assert shim.build_shim("/usr/bin/python3.11") == entry and ext.stat().st_ino == ino   # control: reused
    for st in [entry, *entry.rglob("*")]:
        assert st.stat().st_uid == 0 and st.stat().st_mode & 0o777 == (0o755 if st.is_dir() else 0o644)
    os.chmod(ext, 0o644)
    ext.write_bytes(GOOD.read_bytes())           # another ELF put in its place
    again = shim.build_shim("/usr/bin/python3.11")
    assert again == entry and _extension(again).read_bytes() == made and _extension(again).stat().st_ino != ino
    digest = cache / f"{entry.name}.sha256"
    digest.write_text("0" * 64 + "\n")           # or the digest changed
    ino = _extension(entry).stat().st_ino
    shim.build_shim("/usr/bin/python3.11")
    assert _extension(entry).stat().st_ino != ino and _extension(entry).read_bytes() == made


def test_a_cache_others_can_write_is_refused(cache):
    cache.mkdir(mode=0o755)
    os.chmod(cache, 0o777)
    with pytest.raises(ShimBuildError, match="is not safe"):
        shim.build_shim("/usr/bin/python3.11")


def test_sources_only_root_can_read_still_build(tmp_path, cache, monkeypatch):
    """Finding 7: a checkout under a 0700 folder (root's home). The compiler gets
    copies; the control: gcc as the build user on the sources in place is refused."""
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    shutil.copytree(shim.SHIM_SRC, private / "usdt_shim")
    monkeypatch.setattr(shim, "SHIM_SRC", private / "usdt_shim")
    entry = shim.build_shim("/usr/bin/python3.11")
    assert _extension(entry).name == "_shim.cpython-311-x86_64-linux-gnu.so"
    control = subprocess.run(["setpriv", f"--reuid={build.BUILD_ID}", f"--regid={build.BUILD_ID}", "--clear-groups",
                              "gcc", "-fsyntax-only", "-I/usr/include/python3.11",
                              str(private / "usdt_shim" / "src" / "module.c")],
                             capture_output=True, text=True, cwd="/")
    assert control.returncode != 0 and "Permission denied" in control.stderr


def test_a_failed_build_names_its_cause_and_the_versions_package(cache, monkeypatch, tmp_path):
    """The first error gcc gave, and python3.X-dev for the version at hand."""
    broken = tmp_path / "src"
    shutil.copytree(shim.SHIM_SRC, broken)
    os.chmod(tmp_path, 0o755)
    (broken / "src" / "ring.c").write_text("#include <Python.h>\nint f(void) { return undefined_thing; }\n")
    monkeypatch.setattr(shim, "SHIM_SRC", broken)
    exe = "/root/.pyenv/versions/3.12.1/bin/python3.12"
    if not os.path.exists(exe):
        pytest.skip(f"no {exe} (./setup.sh installs it)")
    with pytest.raises(ShimBuildError) as caught:
        shim.build_shim(exe)
    assert "error: 'undefined_thing' undeclared" in str(caught.value)
    assert "python3.12-dev" in caught.value.fix and "3.11" not in caught.value.fix


def test_a_header_that_includes_an_endless_file_ends_in_one_line():
    """A header is the target's word: ``#include "/dev/zero"`` makes cpp grow its
    buffer without end. The compile's address space is bounded (build.LIMITS),
    so it fails in one line. The control: cpp really reads it without end (a
    256 MiB cap, set here, is exhausted)."""
    with build.workspace() as work:
        build.write_tree(work, {"src/evil.c": b'#include "/dev/zero"\n'})
        with pytest.raises(ShimBuildError, match="failed"):
            build.compile_shim(work, ["-shared", "-fPIC", str(work / "src" / "evil.c")], "evil.so",
                               "a planted header", "none")
        control = subprocess.run(["prlimit", "--as=268435456", "--", "gcc", "-E", str(work / "src" / "evil.c"),
                                  "-o", "/dev/null"], capture_output=True, text=True, timeout=120)
    assert control.returncode != 0 and re.search(r"memory|allocate|Killed|signal", control.stderr), control.stderr
