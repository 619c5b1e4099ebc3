"""Build or locate the scope_shim extension for a target interpreter; see whether a process has it.

The shim is compiled with the interpreter's own headers and extension suffix
(gcc, no setuptools needed in the target's Python) into a cache folder per
interpreter: ``SHIM_CACHE/<version>-<hash of the executable path and ABI>/scope_shim``.
The folder is world-readable (code, not data) so an injected process of any
user can load it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import ScopeError
from .container import copy_out, place, remove
from .debheaders import HeadersError, debian_headers
from .target import pin
from .usdt import read_usdt_sites

SHIM_SRC = Path(__file__).resolve().parent.parent / "usdt_shim"
SHIM_CACHE = Path(os.environ.get("SCOPE_SHIM_CACHE", "/var/cache/scope/shim"))
SOURCES = ("src/module.c", "src/tracing.c", "src/semaphores.c", "src/ring.c")
_QUERY = ("import json, sys, sysconfig; print(json.dumps({'include': sysconfig.get_paths()['include'], "
          "'suffix': sysconfig.get_config_var('EXT_SUFFIX'), 'version': '%d.%d' % sys.version_info[:2], "
          "'hexversion': sys.hexversion}))")


class ShimBuildError(ScopeError):
    fix = "install the interpreter's headers (Debian: apt-get install python3.11-dev) and gcc"


NOBODY = 65534


def _run_as(python: str) -> dict:
    """Whom to run the target's interpreter as, to ask it its build settings:
    scope is root, and the interpreter may be anyone's. A binary only root can
    change runs as root; one its owner can change, as its owner (who could run
    it anyway); one anybody can change, as nobody. (Never in the target's
    environment: -I -S, so no .pth file, sitecustomize or PYTHON* variable.)"""
    if os.geteuid() != 0:
        return {}
    st = os.stat(os.path.realpath(python))
    if st.st_mode & 0o022:
        return {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    if st.st_uid != 0:
        return {"user": st.st_uid, "group": st.st_gid, "extra_groups": []}
    return {}


def interpreter_info(python: str) -> dict:
    """The interpreter's include folder, extension suffix and version, as it
    says them — checked, since it is the target's word (the suffix names a file
    scope writes as root)."""
    try:
        out = subprocess.run([python, "-I", "-S", "-c", _QUERY], capture_output=True, text=True, timeout=30,
                             check=True, env={"PATH": "/usr/bin:/bin"}, cwd="/", **_run_as(python))
        info = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise ShimBuildError(f"cannot run {python} to learn its build settings ({exc})") from None
    if not (isinstance(info, dict) and isinstance(info.get("include"), str) and info["include"].startswith("/")
            and isinstance(info.get("suffix"), str) and re.fullmatch(r"\.[A-Za-z0-9_.-]*\.so", info["suffix"])
            and isinstance(info.get("version"), str) and re.fullmatch(r"3\.\d{1,3}", info["version"])
            and isinstance(info.get("hexversion"), int)):
        raise ShimBuildError(f"{python} describes its build implausibly ({out.stdout.strip()[:200]!r})",
                             "name the CPython interpreter itself")
    return info


def _source_digest() -> str:
    h = hashlib.sha256()
    for rel in (*SOURCES, "src/emit.h", "src/shim.h", "include/scope_shim.h", "include/scope_events.h",
                "scope_shim/__init__.py", "scope_shim/_payload.py", "scope_shim/_switch.py",
                "boot/sitecustomize.py"):
        h.update((SHIM_SRC / rel).read_bytes())
    return h.hexdigest()[:12]


def shim_dir(python: str, info: dict | None = None) -> Path:
    """The folder to put on the target's sys.path (it holds the scope_shim package)."""
    info = info or interpreter_info(python)
    key = hashlib.sha256(f"{os.path.realpath(python)}|{info['suffix']}|{_source_digest()}".encode())
    return SHIM_CACHE / f"{info['version']}-{key.hexdigest()[:12]}"


def build_shim(python: str, *, force: bool = False) -> Path:
    """Build the shim for ``python`` (once; cached) and return the folder for sys.path."""
    info = interpreter_info(python)
    if info["hexversion"] < 0x030B0000:
        raise ShimBuildError(f"{python} is CPython {info['version']}; the shim needs 3.11 or newer",
                             "run the program with CPython 3.11 or newer")
    root = shim_dir(python, info)
    package = root / "scope_shim"
    ext = package / f"_shim{info['suffix']}"
    if ext.exists() and not force:
        return root
    if not Path(info["include"], "Python.h").exists():
        raise ShimBuildError(f"no Python.h for {python} in {info['include']}")
    _compile(root, info["suffix"], [f"-I{info['include']}"], python)
    return root


def _compile(root: Path, suffix: str, includes: list[str], label: str, *, user: int | None = None) -> None:
    """Compile the shim into ``root`` (replacing it). ``user``: run gcc as this
    uid (headers the target supplied: gcc then reads only what anyone may)."""
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "scope_shim").mkdir(parents=True, mode=0o755)
    for rel in ("scope_shim/__init__.py", "scope_shim/_payload.py", "scope_shim/_switch.py"):
        shutil.copy(SHIM_SRC / rel, tmp / rel)
    (tmp / "boot").mkdir(mode=0o755)
    shutil.copy(SHIM_SRC / "boot" / "sitecustomize.py", tmp / "boot" / "sitecustomize.py")
    out = tmp / "scope_shim" / f"_shim{suffix}"
    cmd = ["gcc", "-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-Wall", "-Wno-unused-function",
           *includes, f"-I{SHIM_SRC / 'src'}", f"-I{SHIM_SRC / 'include'}",
           *[str(SHIM_SRC / s) for s in SOURCES], "-o"]
    if user is None:
        res = subprocess.run([*cmd, str(out)], capture_output=True, text=True)
    else:
        with tempfile.TemporaryDirectory(prefix="scope-gcc-") as work:
            os.chown(work, user, user)
            built = Path(work) / out.name
            res = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
                                  "--no-new-privs", *cmd, str(built)], capture_output=True, text=True, cwd=work)
            if res.returncode == 0:
                shutil.copyfile(built, out)
    if res.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        first = (res.stderr.strip().splitlines() or ["gcc failed"])[0]
        raise ShimBuildError(f"building the shim for {label} failed: {first}")
    for path in [tmp, *tmp.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    root.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    os.rename(tmp, root)


NOBODY = 65534


def build_shim_in_root(root: str, version: tuple[int, int], free_threaded: bool = False,
                       prefix: str = "/usr") -> Path:
    """Build the shim for a CPython living in another root (a container's,
    ``probes.container.root_of(pid)``, or a folder run chrooted): its interpreter
    cannot run here, so with the Python headers of that root (copied out
    safely: probes/container.py), by the host's gcc running as nobody — the
    headers are the target's word, and may name any file to include. Cached by
    the headers' digest. ``prefix``: where the interpreter was installed (Debian's
    /usr, or /usr/local for python.org builds such as Docker's python images)."""
    abi = "t" if free_threaded else ""
    name = f"python{version[0]}.{version[1]}{abi}"
    multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="scope-headers-") as tmp:
        copy_out(root, [f"{prefix}/include/{name}/", f"{prefix}/include/{multiarch}/{name}/"], Path(tmp))
        include = Path(tmp, *Path(prefix).parts[1:], "include")
        missing = (f"{root} has no headers for its CPython {version[0]}.{version[1]} "
                   f"({prefix}/include/{name}/Python.h there)")
        fix = (f"install python{version[0]}.{version[1]}-dev (Debian) in that root (the container's image), "
               "or record without the shim")
        if not (include / name / "Python.h").exists() and prefix == "/usr" and not abi:
            # Debian's interpreter without its -dev package: the headers of that very
            # version from Debian's archive, verified (probes/debheaders.py)
            try:
                fetched = debian_headers(root, version)
            except HeadersError as exc:
                raise ShimBuildError(f"{missing}, and {exc}", fix) from None
            shutil.copytree(fetched / "usr" / "include", include, dirs_exist_ok=True)
        if not (include / name / "Python.h").exists():
            raise ShimBuildError(missing, fix)
        digest = hashlib.sha256(_source_digest().encode())
        for path in sorted(include.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(include)).encode() + b"\0" + path.read_bytes())
        root = SHIM_CACHE / f"{version[0]}.{version[1]}{abi}-headers-{digest.hexdigest()[:12]}"
        suffix = f".cpython-{version[0]}{version[1]}{abi}-{multiarch}.so"
        if (root / "scope_shim" / f"_shim{suffix}").exists():
            return root
        for path in [Path(tmp), *Path(tmp).rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        _compile(root, suffix, [f"-I{include / name}", f"-idirafter{include}"],
                 f"the CPython {version[0]}.{version[1]} of {root}", user=NOBODY)
    return root


def shim_in_root(target, root: str, folder: str, *, extra: dict[str, str] | None = None,
                 owner: tuple[int, int] = (0, 0)) -> None:
    """Build the shim for ``target``'s interpreter, which lives in ``root`` (a
    container's, or a folder run chrooted), place it in the new folder
    ``folder`` of that root (``probes.container.new_folder``; with ``extra``
    files, owned by ``owner``) and add its probe sites to the target: the copy
    the target will load, reached by identity. ``probes.container.remove`` it."""
    exe = target.name_of(target.exe)
    built = build_shim_in_root(root, target.version, exe.endswith("t"),
                               "/usr/local" if exe.startswith("/usr/local/") else "/usr")
    name = shim_extension(built).relative_to(built)
    ids = place(root, folder, built, extra, owner=owner)
    try:
        ext = pin(f"{root}{folder}/{name}", ids[str(name)])
    except BaseException:
        remove(root, folder)
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
