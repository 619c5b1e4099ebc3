"""Python headers from Debian's archive, for a container whose image has none.

A Debian container's interpreter is a Debian package; its headers are in
``libpython3.X-dev`` of the very same version. scope reads which version the
container has (its dpkg status, read from the host side inside its root,
regular files only, bounded: probes/rootfs.py), finds that package in
the archive's index for the container's release, and fetches it — every step
verified as apt verifies it: the release file's signature (gpgv, the host's
Debian archive keyring), the index's SHA-256 from it, the package's SHA-256
from the index. Only the header folders are unpacked, into scope's cache.
Nothing runs in the container, and the container's word (its version and
release) only chooses what is fetched, never what is trusted.
"""
from __future__ import annotations

import hashlib
import io
import lzma
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from ..errors import ScopeError
from . import rootfs

CACHE = Path(os.environ.get("SCOPE_HEADERS_CACHE", "/var/cache/scope/headers"))
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SECURITY = "http://security.debian.org/debian-security"
STATUS_MAX = 64 << 20      # bytes of dpkg status read (a large system's: ~10 MiB)
SMALL_MAX = 64 << 10       # os-release, debian_version


class HeadersError(ScopeError):
    fix = "install python3.X-dev in the container's image, or record without the shim"


def host_mirror() -> str:
    """The Debian mirror this machine's apt uses."""
    try:
        for line in Path("/etc/apt/sources.list.d/debian.sources").read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1].rstrip("/")
    except OSError:
        pass
    return "http://deb.debian.org/debian"


def _read(root_fd: int, root: str, path: str, limit: int) -> str | None:
    """A text file of the root (None: it has none); anything else than a
    regular file within ``limit`` bytes is refused (HeadersError)."""
    try:
        return rootfs.read_file(root_fd, path, limit, root=root).decode("utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except rootfs.RootfsError as exc:
        raise HeadersError(f"its Debian packages could not be read ({exc})", exc.fix) from None
    except OSError as exc:
        raise HeadersError(f"its Debian packages could not be read ({path} of {root}: {exc.strerror})") from None


def _installed(root: str, version: tuple[int, int]) -> dict:
    """The installed libpython's version and architecture in ``root``, and the
    release it comes from (read from the host side, inside the root)."""
    with rootfs.held(root) as fd:
        status = _read(fd, root, "/var/lib/dpkg/status", STATUS_MAX)
        os_release = _read(fd, root, "/etc/os-release", SMALL_MAX)
        debian_version = _read(fd, root, "/etc/debian_version", SMALL_MAX)
    return installed_from(version, status, os_release, debian_version)


def installed_from(version: tuple[int, int], status: str | None, os_release: str | None,
                   debian_version: str | None) -> dict:
    """What ``_installed`` says, from the files' texts (None: absent)."""
    if status is None:
        return {}                 # not a Debian root
    wanted = {f"libpython{version[0]}.{version[1]}-minimal", f"libpython{version[0]}.{version[1]}"}
    found: dict = {}
    for block in status.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", block, re.MULTILINE))
        if fields.get("Package") in wanted and "installed" in fields.get("Status", ""):
            found = {"version": fields.get("Version", ""), "arch": fields.get("Architecture", "")}
            break
    release = ""
    if os_release is not None:
        release = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', os_release, re.MULTILINE)).get("VERSION_CODENAME", "")
    if debian_version is not None and debian_version.strip().endswith("/sid"):
        release = "sid"
    return {**found, "release": release}


def _fetch(url: str, limit: int = 512 << 20) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as resp:      # http(s); what comes is verified
        data = resp.read(limit + 1)
    if len(data) > limit:
        raise HeadersError(f"{url} is larger than scope accepts")
    return data


def _verified_release(base: str, dist: str, work: Path) -> str | None:
    """The signed text of ``dist``'s InRelease (None: the archive has no such dist)."""
    try:
        signed = _fetch(f"{base}/dists/{dist}/InRelease", 16 << 20)
    except OSError:
        return None
    path = work / f"{dist}.InRelease"
    path.write_bytes(signed)
    try:
        res = subprocess.run(["gpgv", "--keyring", KEYRING, "--output", str(work / f"{dist}.txt"), str(path)],
                             capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise HeadersError(f"gpgv took longer than 60 s to check {base}/dists/{dist}/InRelease") from None
    if res.returncode != 0:
        raise HeadersError(f"the signature of {base}/dists/{dist}/InRelease does not verify with {KEYRING}",
                           "update the host's debian-archive-keyring, or install python3.X-dev in the image")
    return (work / f"{dist}.txt").read_text()


def _sha256_of(release: str, name: str) -> str | None:
    section = release.split("SHA256:", 1)[-1]
    for line in section.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return parts[0]
    return None


def _find(base: str, dist: str, package: str, version: str, arch: str, work: Path) -> tuple[str, str] | None:
    """(Filename, SHA256) of ``package`` ``version`` in ``dist``'s verified index."""
    release = _verified_release(base, dist, work)
    if release is None:
        return None
    index = f"main/binary-{arch}/Packages.xz"
    digest = _sha256_of(release, index)
    if digest is None:
        return None
    data = _fetch(f"{base}/dists/{dist}/{index}")
    if hashlib.sha256(data).hexdigest() != digest:
        raise HeadersError(f"{base}/dists/{dist}/{index} does not match its signed checksum")
    for block in lzma.decompress(data).decode("utf-8", errors="replace").split("\n\n"):
        if f"Package: {package}\n" in block + "\n" and f"\nVersion: {version}\n" in block + "\n":
            fields = dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", block, re.MULTILINE))
            return fields["Filename"], fields["SHA256"]
    return None


def _unpack_headers(deb: bytes, dest: Path, name: str) -> None:
    """The header folders of a .deb (an ar archive holding data.tar.*) into ``dest``."""
    if not deb.startswith(b"!<arch>\n"):
        raise HeadersError("the fetched package is not a Debian package")
    pos = 8
    while pos + 60 <= len(deb):
        member, size = deb[pos:pos + 16].decode().strip().rstrip("/"), int(deb[pos + 48:pos + 58])
        body = deb[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if not member.startswith("data.tar"):
            continue
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            for m in tar:
                parts = Path(m.name).parts
                rel = Path(*[p for p in parts if p != "."])
                if not m.isfile() or ".." in rel.parts or not str(rel).startswith("usr/include/"):
                    continue
                if name not in rel.parts:
                    continue
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "xb") as out:
                    shutil.copyfileobj(tar.extractfile(m), out)
        return
    raise HeadersError("the fetched package holds no data archive")


def debian_headers(root: str, version: tuple[int, int]) -> Path:
    """A folder holding ``usr/include/python3.X`` (and its multiarch pyconfig) for
    the Debian CPython of ``root``, fetched once and cached."""
    name = f"python{version[0]}.{version[1]}"
    try:
        have = _installed(root, version)
    except OSError as exc:            # the root itself is gone or unreadable
        raise HeadersError(f"its Debian packages could not be read ({root}: {exc.strerror})") from None
    if not have.get("version") or not have.get("release"):
        raise HeadersError("it has no Debian package of that interpreter to fetch them for")
    package, ver, arch = f"lib{name}-dev", have["version"], have["arch"]
    cached = CACHE / f"{package}_{ver}_{arch}".replace("/", "_")
    if (cached / "usr" / "include" / name / "Python.h").exists():
        return cached
    dist = have["release"]
    places = [(host_mirror(), dist), (host_mirror(), f"{dist}-updates"), (SECURITY, f"{dist}-security")]
    with tempfile.TemporaryDirectory(prefix="scope-deb-") as tmp:
        work = Path(tmp)
        for base, d in places:
            found = _find(base, d, package, ver, arch, work)
            if found:
                filename, digest = found
                deb = _fetch(f"{base}/{filename}")
                if hashlib.sha256(deb).hexdigest() != digest:
                    raise HeadersError(f"{base}/{filename} does not match its signed checksum")
                staging = work / "unpacked"
                _unpack_headers(deb, staging, name)
                cached.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(cached, ignore_errors=True)
                shutil.move(str(staging), cached)
                return cached
    raise HeadersError(f"Debian's archive has no {package} {ver} for {dist}")
