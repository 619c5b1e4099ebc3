"""`pip install` works: scope's wheel and the shim's, built from the checkout's
tracked files and installed into a fresh venv (Debian's python3.11, bcc from
the system, dependencies from set-up's wheelhouse, offline), record a process
through `run` and `attach` (which both build the shim from the sources the
wheel carries); the shim's wheel carries its header; built where its extension
cannot compile, it installs as pure Python whose API does nothing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from .conftest import PYTHON, TARGETS, wait_for_line
from .test_run import KNOWN

REPO = Path(__file__).resolve().parents[2]
WHEELS = Path(os.environ.get("SCOPE_WHEELS", "/var/cache/scope-wheels"))


def run(*cmd, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, **kw)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Both wheels, built offline from a copy of the tracked files (no build
    artifacts of the checkout's own editable install)."""
    if not any(WHEELS.glob("setuptools-*.whl")):
        pytest.fail(f"no wheelhouse in {WHEELS} (./setup.sh fetches it)")
    tmp = tmp_path_factory.mktemp("wheels")
    src, dist = tmp / "src", tmp / "dist"
    for rel in run("git", "-C", REPO, "ls-files").stdout.split():
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    pip = [PYTHON, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index", "--find-links", WHEELS, "-w", dist]
    run(*pip, src)
    run(*pip, src / "usdt_shim")
    return dist


def fresh_venv(path: Path) -> Path:
    """A venv on Debian's python3.11 reaching only bcc of the system's packages."""
    run(PYTHON, "-m", "venv", path)
    site = run(path / "bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    os.symlink("/usr/lib/python3/dist-packages/bcc", Path(site) / "bcc")
    return path


def test_the_wheels_carry_what_scope_needs(built):
    (scope_whl,) = built.glob("scope_tracer-*.whl")
    (shim_whl,) = built.glob("scope_shim-*.whl")
    names = set(zipfile.ZipFile(scope_whl).namelist())
    for rel in ("scope/usdt_shim/src/module.c", "scope/usdt_shim/src/tracing.c", "scope/usdt_shim/include/scope_shim.h",
                "scope/usdt_shim/scope_shim/_switch.py", "scope/usdt_shim/boot/sitecustomize.py",
                "scope/probes/python_usdt.bpf.c", "scope/probes/scope_events.h"):
        assert rel in names, rel
    for ext in ("_correlate", "_drain"):     # the correlator's loop; the rings' drain
        assert any(n.startswith(f"scope/collector/{ext}.") and n.endswith(".so") for n in names), ext
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert "Classifier: Operating System :: POSIX :: Linux" in zipfile.ZipFile(scope_whl).read(meta).decode()
    shim = set(zipfile.ZipFile(shim_whl).namelist())
    assert "scope_shim/include/scope_shim.h" in shim and any(n.startswith("scope_shim/_shim.") for n in shim)


def test_an_installed_wheel_records(built, tmp_path):
    venv = fresh_venv(tmp_path / "venv")
    run(venv / "bin/pip", "install", "-q", "--no-index", "--find-links", WHEELS, *built.glob("*.whl"))
    env = dict(os.environ, SCOPE_SHIM_CACHE=str(tmp_path / "shims"))    # built here, from the wheel's sources
    scope = venv / "bin/scope"
    out = tmp_path / "rec"
    res = subprocess.run([scope, "run", "-o", out, "--", PYTHON, TARGETS / "known_calls.py"], capture_output=True,
                         text=True, env=env, check=False)
    assert res.returncode == 3 and "Traceback" not in res.stderr, res.stderr     # the program's own exit code
    top = json.loads(run(scope, "query", out, "--top", "--file", "*/known_calls.py", "--format", "json").stdout)
    assert {r["function"]: r["calls"] for r in top} == KNOWN
    assert list((tmp_path / "shims").glob("3.11-*/scope_shim/_shim.*.so"))
    # attach: the shim loaded by default, built from the same sources
    target = subprocess.Popen([PYTHON, TARGETS / "looping.py", "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline().strip() == "ready"
        attached = subprocess.Popen([scope, "attach", str(target.pid), "-o", tmp_path / "att", "--duration", "2"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        wait_for_line(attached.stderr, "recording pid")
        stdout, stderr = attached.communicate(timeout=60)
        assert attached.returncode == 0, stderr
        assert "  shim     loaded by scope: the default" in stdout
        calls = json.loads(run(scope, "query", tmp_path / "att", "--calls", "--function", "work", "--format",
                               "json").stdout)
        assert any(c["status"] == "complete" and c["duration_ns"] for c in calls)
    finally:
        target.kill()
        target.wait()
    # the shim's wheel: its header for native extensions
    include = run(venv / "bin/python", "-c", "import scope_shim; print(scope_shim.ACTIVE, scope_shim.get_include())")
    active, folder = include.stdout.split()
    assert active == "True" and (Path(folder) / "scope_shim.h").is_file()


def test_the_shim_installs_where_it_cannot_build(built, tmp_path):
    """No compiler (as where <sys/sdt.h> or Linux is missing): the wheel has no
    extension, and an application using the API runs, recording nothing."""
    dist, src = tmp_path / "dist", tmp_path / "usdt_shim"
    shutil.copytree(built.parent / "src" / "usdt_shim", src, ignore=shutil.ignore_patterns("build", "*.so"))
    run(PYTHON, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index", "--find-links", WHEELS, "-w", dist, src,
        env=dict(os.environ, CC="/bin/false"))
    (whl,) = dist.glob("scope_shim-*.whl")
    assert not any(n.startswith("scope_shim/_shim.") for n in zipfile.ZipFile(whl).namelist())
    venv = tmp_path / "venv"
    run(PYTHON, "-m", "venv", venv)
    run(venv / "bin/pip", "install", "-q", "--no-index", whl)
    app = ("import scope_shim as s\n"
           "s.mark('m', k=1); s.state('st', {'a': 1}); s.send('c', 1); s.recv('c', 1)\n"
           "with s.span('outer', x=1):\n    pass\n"
           "@s.span('deco')\ndef f():\n    return 7\n"
           "import threading\n"
           "print(s.ACTIVE, f(), [t.name for t in threading.enumerate()])\n")
    assert run(venv / "bin/python", "-c", app).stdout == "False 7 ['MainThread']\n"
