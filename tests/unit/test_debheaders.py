"""Headers from Debian's archive (probes/debheaders.py): nothing is used unless
the archive's signature and checksums say it is Debian's. (The positive case,
a real fetch: tests/integration/test_container.py, ..._without_headers_...)"""
from __future__ import annotations

import hashlib
import io
import lzma
import tarfile

import pytest

from scope.probes import debheaders as dh


def test_a_release_file_whose_signature_does_not_verify_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(dh, "_fetch", lambda url, limit=0: b"-----BEGIN PGP SIGNED MESSAGE-----\nforged\n")
    with pytest.raises(dh.HeadersError, match="does not verify"):
        dh._find("http://mirror", "bookworm", "libpython3.11-dev", "3.11.2-6", "amd64", tmp_path)


def test_an_index_that_does_not_match_its_signed_checksum_is_refused(tmp_path, monkeypatch):
    index = lzma.compress(b"Package: libpython3.11-dev\nVersion: 3.11.2-6\nFilename: pool/x.deb\nSHA256: 00\n")
    signed = f"SHA256:\n {hashlib.sha256(b'another index').hexdigest()} 123 main/binary-amd64/Packages.xz\n"
    monkeypatch.setattr(dh, "_verified_release", lambda base, dist, work: signed)
    monkeypatch.setattr(dh, "_fetch", lambda url, limit=0: index)
    with pytest.raises(dh.HeadersError, match="does not match its signed checksum"):
        dh._find("http://mirror", "bookworm", "libpython3.11-dev", "3.11.2-6", "amd64", tmp_path)


def test_the_package_is_found_only_at_its_exact_version(tmp_path, monkeypatch):
    index = lzma.compress(b"Package: libpython3.11-dev\nVersion: 3.11.2-6+deb12u1\nFilename: pool/a.deb\n"
                          b"SHA256: aa\n\nPackage: libpython3.11-dev\nVersion: 3.11.2-6\nFilename: pool/b.deb\n"
                          b"SHA256: bb\n")
    signed = f"SHA256:\n {hashlib.sha256(index).hexdigest()} 123 main/binary-amd64/Packages.xz\n"
    monkeypatch.setattr(dh, "_verified_release", lambda base, dist, work: signed)
    monkeypatch.setattr(dh, "_fetch", lambda url, limit=0: index)
    assert dh._find("http://m", "bookworm", "libpython3.11-dev", "3.11.2-6", "amd64", tmp_path) == ("pool/b.deb", "bb")
    assert dh._find("http://m", "bookworm", "libpython3.11-dev", "3.11.9", "amd64", tmp_path) is None


def _deb(members: dict[str, bytes]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        link = tarfile.TarInfo("./usr/include/python3.11/evil.h")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(link)
    body = data.getvalue()
    head = f"{'data.tar.xz':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n".encode()
    return b"!<arch>\n" + head + body + (b"\n" if len(body) & 1 else b"")


def test_only_the_header_files_come_out_of_the_package(tmp_path):
    deb = _deb({"./usr/include/python3.11/Python.h": b"/* h */\n", "./usr/bin/evil": b"x",
                "./usr/include/python3.11/../../../etc/cron.d/x": b"x",
                "./usr/include/x86_64-linux-gnu/python3.11/pyconfig.h": b"/* c */\n"})
    dh._unpack_headers(deb, tmp_path / "out", "python3.11")
    got = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert got == ["usr/include/python3.11/Python.h", "usr/include/x86_64-linux-gnu/python3.11/pyconfig.h"]


def test_something_else_than_a_package_is_refused(tmp_path):
    with pytest.raises(dh.HeadersError, match="not a Debian package"):
        dh._unpack_headers(b"<html>captive portal</html>", tmp_path, "python3.11")
