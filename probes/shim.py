"""Build or locate the scope_shim extension for a target interpreter; see whether a process has it.

The shim is compiled with the interpreter's own headers and extension suffix
(gcc, no setuptools needed in the target's Python): what scope needs to know
of the interpreter is read from its file, never by running it
(probes/interp.py); its headers are copied out of its root (the host's, or a
container's: probes/container.py) and compiled in a sandbox, whose output root
checks and keeps in the cache (probes/build.py):
``SHIM_CACHE/<version>-headers-<digest of sources, suffix and headers>/``, a
folder world-readable (code, not data) so an injected process of any user can
load it, with its digest beside it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from .build import cached, check_cache, compile_shim, install, open_to_compiler, workspace, write_tree
from .container import copy_out, place, remove
from .debheaders import HeadersError, debian_headers
from .interp import ShimBuildError, interpreter_info, multiarch
from .target import pin
from .usdt import read_usdt_sites

__all__ = ["ShimBuildError", "add_shim_sites", "build_shim", "build_shim_in_root", "preload_env",
           "shim_extension", "shim_in_root", "shim_library"]

SHIM_SRC = Path(__file__).resolve().parent.parent / "usdt_shim"
SHIM_CACHE = Path(os.environ.get("SCOPE_SHIM_CACHE", "/var/cache/scope/shim"))
SOURCES = ("src/module.c", "src/tracing.c", "src/semaphores.c", "src/ring.c")
HEADERS = ("src/emit.h", "src/shim.h", "include/scope_shim.h", "include/scope_events.h")
PACKAGE = ("scope_shim/__init__.py", "scope_shim/_payload.py", "scope_shim/_switch.py", "boot/sitecustomize.py")


def _sources() -> dict[str, bytes]:
    """scope's own shim sources (read here, as root: the compiler gets copies,
    so a checkout in a folder only root may enter builds too)."""
    return {rel: (SHIM_SRC / rel).read_bytes() for rel in (*SOURCES, *HEADERS, *PACKAGE)}


def _dev_fix(version: tuple[int, int]) -> str:
    return (f"install python{version[0]}.{version[1]}-dev (Debian; the headers of that interpreter "
            "otherwise) and gcc, or record without the shim")


def build_shim(python: str, *, libraries: tuple[str, ...] | list[str] = (), force: bool = False,
               ids: tuple[int, int] | None = None) -> Path:
    """Build the shim for the interpreter ``python`` (a path opened once and read,
    never run: ``/proc/PID/exe`` for a running target, whose mapped files
    ``libraries`` are) — once, cached — and return the folder for sys.path.
    Its headers are those of its install prefix (``/usr/include/python3.11``,
    ``~/.pyenv/versions/3.12.1/include/python3.12``), read as the weaker of
    the target's user (``ids``, uid and gid as the host sees them) and the
    interpreter's owner: never as root for a target or an interpreter that is
    not root's (``reader``)."""
    info = interpreter_info(python, libraries)
    where = f"{info.path} (CPython {info.version[0]}.{info.version[1]})"
    if info.include is None:
        raise ShimBuildError(f"{where} is in no bin folder: scope cannot tell where its headers are",
                             _dev_fix(info.version))
    try:
        owner = os.stat(info.include).st_uid
    except OSError:
        owner = 0
    if owner not in (0, info.owner):      # only the headers of root or of the interpreter's owner
        raise ShimBuildError(f"{info.include} belongs to uid {owner}, neither root nor the owner of {info.path}",
                             _dev_fix(info.version))
    return _build("/", info.prefix, info.version, info.free_threaded, where,
                  f"no headers for {where} ({info.include}/Python.h is missing)", force=force,
                  ids=reader(python, info.owner, ids))


def reader(python: str, owner: int, ids: tuple[int, int] | None) -> tuple[int, int] | None:
    """Whom a host interpreter's headers are read as: the target's user when
    it is not root (``ids``), else the interpreter's owner when not root (with
    the executable's group), else root (None). A symlink among the headers to
    what that user cannot read is then refused by the kernel."""
    if ids is not None and ids[0] != 0:
        return ids
    if owner == 0:
        return None
    st = os.stat(python)
    if st.st_uid != owner:
        raise ShimBuildError(f"{python} changed owner while scope read it", "attach again")
    return owner, st.st_gid


def build_shim_in_root(root: str, version: tuple[int, int], free_threaded: bool = False,
                       prefix: str = "/usr", *, ids: tuple[int, int] | None = None) -> Path:
    """Build the shim for a CPython living in another root (a container's,
    ``probes.container.root_of(pid)``, or a folder run chrooted): with the
    Python headers of that root (copied out safely: probes/container.py); a
    Debian interpreter without its -dev package gets those of its very version
    from Debian's archive, verified (probes/debheaders.py). ``prefix``: where
    the interpreter was installed (Debian's /usr, or /usr/local for python.org
    builds such as Docker's python images). ``ids``: the target's user, whom
    the headers are read as (probes/container.py ``copy_out``)."""
    name = f"python{version[0]}.{version[1]}{'t' if free_threaded else ''}"
    return _build(root, prefix, version, free_threaded, f"the CPython {version[0]}.{version[1]} of {root}",
                  f"{root} has no headers for its CPython {version[0]}.{version[1]} "
                  f"({prefix}/include/{name}/Python.h there)", debian=prefix == "/usr" and not free_threaded,
                  ids=ids)


def _build(root: str, prefix: str, version: tuple[int, int], free_threaded: bool, label: str, missing: str, *,
           debian: bool = False, force: bool = False, ids: tuple[int, int] | None = None) -> Path:
    """The shim built with the headers ``root`` keeps under ``prefix``/include,
    read as ``ids`` (cached by their digest); ``label`` names the interpreter
    in messages, ``missing`` says that it has no headers."""
    name = f"python{version[0]}.{version[1]}{'t' if free_threaded else ''}"
    arch = multiarch()
    check_cache(SHIM_CACHE)
    with workspace() as work:
        copied = work / "include"
        copied.mkdir(mode=0o755)
        copy_out(root, [f"{prefix}/include/{name}/", f"{prefix}/include/{arch}/{name}/"], copied, ids=ids)
        include = copied.joinpath(*Path(prefix).parts[1:], "include")
        if not (include / name / "Python.h").is_file() and debian:
            try:
                fetched = debian_headers(root, version)
            except HeadersError as exc:
                raise ShimBuildError(f"{missing}, and {exc}", _dev_fix(version)) from None
            shutil.copytree(fetched / "usr" / "include", include, dirs_exist_ok=True)
        if not (include / name / "Python.h").is_file():
            raise ShimBuildError(missing, _dev_fix(version))
        sources = _sources()
        suffix = f".cpython-{version[0]}{version[1]}{'t' if free_threaded else ''}-{arch}.so"
        headers = {str(p.relative_to(include)): p.read_bytes() for p in sorted(include.rglob("*")) if p.is_file()}
        digest = inputs_digest(suffix, sources, headers)
        key = f"{version[0]}.{version[1]}{'t' if free_threaded else ''}-headers-{digest[:16]}"
        entry = None if force else cached(SHIM_CACHE, key)
        if entry is not None:
            return entry
        write_tree(work / "src", {rel: sources[rel] for rel in (*SOURCES, *HEADERS)})
        open_to_compiler(copied)
        src = work / "src"
        # the build folder's random name kept out of the output: the same inputs make the same bytes
        args = ["-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-Wall", "-Wno-unused-function",
                f"-ffile-prefix-map={work}=/scope-build",
                f"-I{include / name}", f"-idirafter{include}", f"-I{src / 'src'}", f"-I{src / 'include'}",
                *[str(src / s) for s in SOURCES]]
        built = compile_shim(work, args, f"_shim{suffix}", label, _dev_fix(version))
    return install(SHIM_CACHE, key, {**{rel: sources[rel] for rel in PACKAGE}, f"scope_shim/_shim{suffix}": built})


def inputs_digest(suffix: str, sources: dict[str, bytes], headers: dict[str, bytes]) -> str:
    """The cache key's digest of what a build reads: every part, name and
    content length-prefixed (and each table counted), so two different sets of
    inputs never make the same stream."""
    digest = hashlib.sha256()

    def field(data: bytes) -> None:
        digest.update(len(data).to_bytes(8, "big") + data)

    field(suffix.encode())
    for table in (sources, headers):
        field(len(table).to_bytes(8, "big"))
        for rel in sorted(table):
            field(os.fsencode(rel))
            field(table[rel])
    return digest.hexdigest()


def shim_in_root(target, root: str, folder: str, *, extra: dict[str, str] | None = None,
                 owner: tuple[int, int] = (0, 0)) -> None:
    """Build the shim for ``target``'s interpreter, which lives in ``root`` (a
    container's, or a folder run chrooted), place it in the new folder
    ``folder`` of that root (``probes.container.new_folder``; with ``extra``
    files, for ``owner``: the target's user as the host sees it, whom the
    headers are read as and the folder is made by) and add its probe sites to
    the target: the copy the target will load, reached by identity.
    ``probes.container.remove`` it."""
    exe = target.name_of(target.exe)
    built = build_shim_in_root(root, target.version, exe.endswith("t"),
                               "/usr/local" if exe.startswith("/usr/local/") else "/usr", ids=owner)
    name = shim_extension(built).relative_to(built)
    ids = place(root, folder, built, extra, owner=owner)
    try:
        ext = pin(f"{root}{folder}/{name}", ids[str(name)])
    except BaseException:
        remove(root, folder, owner)
        raise
    add_shim_sites(target, ext, f"{folder}/{name}")


def add_shim_sites(target, ext: str, name: str | None = None) -> None:
    """The shim's probe sites join the target's: ``ext``, the extension as scope
    reaches it (``name``: as the target names it, when that differs)."""
    target.binaries.append(ext)
    if name is not None:
        target.names[ext] = name
    target.sites.extend(s for s in read_usdt_sites(ext) if s.provider == "scope")


def shim_extension(root: Path) -> Path:
    """The built extension module inside a shim folder."""
    found = sorted((root / "scope_shim").glob("_shim*.so"))
    if not found:
        raise ShimBuildError(f"no shim extension in {root}")
    return found[0]


def preload_env(root: Path, env: dict[str, str]) -> dict[str, str]:
    """Environment that makes the interpreter import scope_shim at start-up."""
    env = dict(env)
    paths = [str(root / "boot"), str(root)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def shim_library(pid: int) -> str | None:
    """Path of the scope_shim extension mapped in process ``pid``, if it is loaded."""
    try:
        with open(f"/proc/{pid}/maps") as fh:
            for line in fh:
                parts = line.split(None, 5)
                if len(parts) == 6 and "/scope_shim/_shim" in parts[5]:
                    return parts[5].strip()
    except OSError:
        return None
    return None
