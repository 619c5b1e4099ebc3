"""Compile the shim where no target can reach, and keep what it makes where only root writes.

The compiler reads headers a target chose (its interpreter's, or its
container's): they may name any file to include, or be built to crash or hang
gcc. So gcc runs as BUILD_ID, a user and group nobody else is, with no
capability, no new privileges, no supplementary group, an empty environment,
a file-size limit and a timeout, inside a folder root made for this build:

    /tmp/scope-build-XXXX/    root:BUILD_ID, 0710: only root and the compiler enter it
        src/, include/        root:BUILD_ID, 0750/0640: copies of the shim's sources and of the headers
        out/                  BUILD_ID, 0700: gcc's output and temporary files

(What the headers name is the target's word, copied as the target could read
it; the group keeps even those copies from every other user while gcc runs.)
Besides time and file size, gcc's address space, CPU time, open files and
processes are bounded: a header including /dev/zero makes cpp grow its buffer
for ever (found by attacking this module).

What gcc made is then opened by root without following links (O_NOFOLLOW,
O_NONBLOCK), checked — a regular file, owned by BUILD_ID, one link, bounded,
an ELF shared object of this machine — and root writes its own copy into the
cache: root's folders 0755 and files 0644 (targets of every user load them),
each entry written whole under a temporary name then renamed, a digest beside
it that is checked each time the entry is used.

BUILD_ID is 65530: Debian reserves 65000-65533 (policy 9.2.2) and systemd
leaves 65520-65533 unassigned, so no account, service or container mapping
gets it — unlike nobody (65534), which unprivileged programs and user
namespaces map to. A passwd or group entry naming it is refused.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..text import shown
from .interp import ShimBuildError, host_machine

BUILD_ID = 65530
GCC, SETPRIV, PRLIMIT = "/usr/bin/gcc", "/usr/bin/setpriv", "/usr/bin/prlimit"
TIMEOUT = 300                 # seconds for one compile (~10 s here)
MAX_WRITE = 64 << 20          # bytes any file gcc writes may reach (RLIMIT_FSIZE)
MAX_OUTPUT = 16 << 20         # bytes of the built extension (~150 KiB)
MAX_ENTRY_FILES = 64
# cc1 compiling the shim takes ~100 MiB; a compile past these is an attack, not a build
LIMITS = ("--as=2147483648", "--cpu=300", "--nofile=256", "--nproc=64", "--core=0")


def build_user() -> tuple[int, int] | None:
    """(uid, gid) gcc runs as; None when scope is not root (it has no privilege to shed)."""
    if os.geteuid() != 0:
        return None
    for table in ("/etc/passwd", "/etc/group"):
        try:
            lines = Path(table).read_text(errors="replace").splitlines()
        except OSError:
            continue
        taken = [line.split(":")[0] for line in lines if line.split(":")[2:3] == [str(BUILD_ID)]]
        if taken:
            raise ShimBuildError(f"id {BUILD_ID}, which scope compiles as, belongs to {shown(taken[0])} "
                                 f"in {table}", "give that account another id: scope needs one nobody uses")
    return BUILD_ID, BUILD_ID


def _share(path: str, folder: bool) -> None:
    """``path`` (root's) readable by root and the compiler only: group BUILD_ID,
    0750/0640 (0755/0644 when scope is not root: it has no one to keep out)."""
    user = build_user()
    if user is None:
        os.chmod(path, 0o755 if folder else 0o644)
        return
    os.chown(path, 0, user[1], follow_symlinks=False)
    os.chmod(path, 0o750 if folder else 0o640)      # (root's own tree: no link in it to follow)


@contextmanager
def workspace():
    """A fresh folder for one build, root's and closed to all but the compiler
    (root:BUILD_ID 0710), removed after."""
    folder = Path(tempfile.mkdtemp(prefix="scope-build-"))
    try:
        user = build_user()
        if user is not None:
            os.chown(folder, 0, user[1])
        os.chmod(folder, 0o710 if user is not None else 0o711)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_tree(folder: Path, files: dict[str, bytes], *, public: bool = False) -> None:
    """Root's own copies of ``files`` (relative path -> bytes) under ``folder``,
    never through a link: readable by the compiler only (``_share``), or by
    everyone (``public``: a cache entry, which targets of every user load)."""
    for rel, data in sorted(files.items()):
        path = folder / rel
        os.makedirs(path.parent, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _open_to(str(path), False, public)
    for dirpath, _, _ in os.walk(folder):
        _open_to(dirpath, True, public)


def _open_to(path: str, folder: bool, public: bool) -> None:
    if public:
        os.chmod(path, 0o755 if folder else 0o644)
    else:
        _share(path, folder)


def open_to_compiler(folder: Path) -> None:
    """Make a tree root copied (regular files and folders only) readable by the compiler."""
    for dirpath, _, filenames in os.walk(folder):
        _share(dirpath, True)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise ShimBuildError(f"{path} is not a regular file (the header copy holds only those)")
            _share(path, False)


def first_error(text: str, work: Path) -> str:
    """The line of gcc's complaint that says what went wrong, safe to print."""
    lines = [line.replace(f"{work}/", "") for line in text.splitlines() if line.strip()]
    line = next((x for x in lines if "error" in x), lines[0] if lines else "gcc failed without a word")
    return shown(line[:300])


def compile_shim(work: Path, args: list[str], output: str, label: str, fix: str) -> bytes:
    """Run ``gcc ARGS -o work/out/OUTPUT`` in the sandbox; the checked bytes it made."""
    out = work / "out"
    out.mkdir(mode=0o700)
    user = build_user()
    cmd = [GCC, *args, "-o", str(out / output)]
    if user is not None:
        os.chown(out, *user)
        cmd = [PRLIMIT, f"--fsize={MAX_WRITE}", *LIMITS, "--", SETPRIV, f"--reuid={user[0]}",
               f"--regid={user[1]}", "--clear-groups", "--no-new-privs", "--inh-caps=-all",
               "--bounding-set=-all", "--", *cmd]
    # the log is root's, written by gcc through the descriptor only (bounded by
    # RLIMIT_FSIZE); TMPDIR: gcc's intermediate files in its own folder, not the shared /tmp
    with tempfile.TemporaryFile(dir=work) as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=out,
                                env={"PATH": "/usr/bin:/bin", "TMPDIR": str(out)}, start_new_session=True)
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise ShimBuildError(f"building the shim for {label} took longer than {TIMEOUT} s", fix) from None
        log.seek(0)
        said = log.read(64 << 10).decode(errors="replace")
    if proc.returncode != 0:
        raise ShimBuildError(f"building the shim for {label} failed: {first_error(said, work)}", fix)
    return checked_shared_object(out / output, None if user is None else user[0])


def checked_shared_object(path: Path | str, owner: int | None) -> bytes:
    """The bytes of ``path`` if it is what a compile makes: a regular file (not a
    link, FIFO or device), owned by ``owner`` (None: anyone), one link, at most
    MAX_OUTPUT bytes, an ELF shared object of this machine. Else ShimBuildError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ShimBuildError(f"the compiled shim {path} cannot be opened safely ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        problem = ("not a regular file" if not stat.S_ISREG(st.st_mode)
                   else f"owned by {st.st_uid}, not {owner}" if owner is not None and st.st_uid != owner
                   else f"{st.st_nlink} links to it" if st.st_nlink != 1
                   else f"{st.st_size} bytes (at most {MAX_OUTPUT})" if not 0 < st.st_size <= MAX_OUTPUT
                   else None)
        if problem is not None:
            raise ShimBuildError(f"the compiled shim {path} is refused: {problem}")
        data = fh.read(MAX_OUTPUT + 1)
    try:
        elf = ELFFile(io.BytesIO(data))
        kind = (elf["e_machine"], elf.elfclass, elf.little_endian, elf["e_type"])
    except (ELFError, ValueError, KeyError, IndexError) as exc:
        raise ShimBuildError(f"the compiled shim {path} is refused: not an ELF file ({exc})") from None
    if len(data) != st.st_size or kind != (*host_machine(), "ET_DYN"):
        raise ShimBuildError(f"the compiled shim {path} is refused: {kind[3]} for {kind[0]}, "
                             f"not a shared object for {host_machine()[0]}")
    return data


# ---- the cache: root's folder, an entry per build, a digest beside each


def check_cache(cache: Path) -> None:
    """Create ``cache`` if need be; refuse it unless it and every folder above it
    are scope's user's (or root's) and writable by no one else (a sticky /tmp excepted)."""
    os.makedirs(cache, mode=0o755, exist_ok=True)
    me = os.geteuid()
    path = Path(os.path.realpath(cache))
    for folder in [path, *path.parents]:
        st = os.lstat(folder)
        open_to_others = st.st_mode & 0o022 and not (folder != path and st.st_mode & stat.S_ISVTX)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (0, me) or open_to_others:
            raise ShimBuildError(f"the shim cache {cache} is not safe: {folder} is owned by {st.st_uid} with "
                                 f"mode {stat.S_IMODE(st.st_mode):o}",
                                 "make it root's and writable only by root (chmod 755), or set "
                                 "SCOPE_SHIM_CACHE to such a folder")


def digest_of(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + len(files[rel]).to_bytes(8, "little") + files[rel])
    return h.hexdigest()


def _entry_files(entry: Path) -> dict[str, bytes] | None:
    """The files of a cache entry, or None if anything in it is not as scope
    writes it (a link, a special file, another owner, writable by others, too many)."""
    me, files = os.geteuid(), {}
    for dirpath, dirnames, filenames in os.walk(entry):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if st.st_uid != me or st.st_mode & 0o022 or not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                return None
            if stat.S_ISREG(st.st_mode):
                if len(files) >= MAX_ENTRY_FILES or st.st_size > MAX_OUTPUT:
                    return None
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                with os.fdopen(fd, "rb") as fh:
                    files[os.path.relpath(path, entry)] = fh.read(MAX_OUTPUT + 1)
    return files


def cached(cache: Path, key: str) -> Path | None:
    """The entry ``key`` if it is intact: a folder of root's whose files match the
    digest written beside it. None: absent or not intact (then built again)."""
    entry = cache / key
    try:
        if not stat.S_ISDIR(os.lstat(entry).st_mode):
            return None
        fd = os.open(cache / f"{key}.sha256", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            recorded = fh.read(128).decode("ascii", errors="replace").strip()
        files = _entry_files(entry)
    except OSError:
        return None
    return entry if files and digest_of(files) == recorded else None


def install(cache: Path, key: str, files: dict[str, bytes]) -> Path:
    """Write ``files`` as the entry ``key`` of ``cache`` (replacing any), then its digest."""
    check_cache(cache)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache))
    write_tree(tmp, files, public=True)
    entry = cache / key
    if os.path.lexists(entry):
        old = Path(tempfile.mkdtemp(prefix=f".{key}.old.", dir=cache))
        os.rename(entry, old / "entry")
        shutil.rmtree(old, ignore_errors=True)
    os.rename(tmp, entry)
    fd, name = tempfile.mkstemp(prefix=f".{key}.sha256.", dir=cache)
    with os.fdopen(fd, "w") as fh:
        fh.write(digest_of(files) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(name, 0o644)
    os.rename(name, cache / f"{key}.sha256")
    return entry
