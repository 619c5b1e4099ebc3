"""Integration tests: real eBPF against real /usr/bin/python3.11 processes.

Preconditions are checked once per session; without them every test here is
skipped with the reason — and under CI and `make test` each such skip fails
(tests/strict_skips.py), so a broken set-up cannot pass as green.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TARGETS = Path(__file__).parent.parent / "targets"
PYTHON = "/usr/bin/python3.11"
_READABLE: list[Path] = []


def readable(script: str | Path) -> Path:
    """A copy of a target script that any user can read, for targets run as
    another user (setpriv): the checkout may sit in a folder only root can
    enter (root's home is 0700), and such a target could not even open its own
    file. One folder for the session (0755, removed at exit)."""
    import atexit
    import shutil
    import tempfile
    if not _READABLE:
        folder = Path(tempfile.mkdtemp(prefix="scope-targets-"))
        folder.chmod(0o755)
        atexit.register(shutil.rmtree, folder, True)
        _READABLE.append(folder)
    src = Path(script) if Path(script).is_absolute() else TARGETS / script
    copy = _READABLE[0] / src.name
    if not copy.exists():
        shutil.copyfile(src, copy)
        copy.chmod(0o644)
    return copy


def open_fifo(path: Path, mode: str, proc: subprocess.Popen, timeout: float = 60):
    """``open(path, mode)`` of a fifo whose other end ``proc`` opens — within
    `timeout` s, and not at all once ``proc`` has ended: a target that could not
    start (say, its script unreadable) must fail the test, not hang it."""
    import threading
    box: list = []
    opener = threading.Thread(target=lambda: box.append(open(path, mode)), daemon=True)
    opener.start()
    deadline = time.monotonic() + timeout
    while opener.is_alive() and proc.poll() is None and time.monotonic() < deadline:
        opener.join(0.05)
    if opener.is_alive():       # unblock the opener with the other end, then fail
        os.close(os.open(path, (os.O_WRONLY if "r" in mode else os.O_RDONLY) | os.O_NONBLOCK))
        opener.join(5)
        raise AssertionError(f"the target never opened {path.name} (exit status {proc.poll()})")
    return box[0]


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "integration tests need root (real eBPF)"
    if not os.path.exists(PYTHON):
        return f"{PYTHON} is not installed (run ./setup.sh)"
    try:
        import bcc  # noqa: F401
    except ImportError:
        return "bcc is not importable (run ./setup.sh)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing()
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def scope_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "scope", *args]


def run_scope(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(scope_cmd(*args), capture_output=True, text=True, timeout=timeout, **kw)


def query_json(folder: Path, *args: str) -> list[dict]:
    res = run_scope("query", "--parquet", str(folder), "--format", "json", *args)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def top_counts(folder: Path, file_glob: str) -> dict[str, int]:
    return {r["function"]: r["calls"] for r in query_json(folder, "--top", "--file", file_glob)}


class Handshake:
    """A target started with two fifos: it says "ready"/"done", we say "go"."""

    def __init__(self, tmp: Path, script: str, *args: str, prefix: tuple[str, ...] = ()):
        """`prefix` runs the target under another command (setpriv, unshare): the
        fifos are then open to everyone, and `pid` is the Python process itself."""
        self.ready_path, self.go_path = tmp / "ready.fifo", tmp / "go.fifo"
        os.mkfifo(self.ready_path, 0o666)
        os.mkfifo(self.go_path, 0o666)
        if prefix:
            os.chmod(self.ready_path, 0o666)
            os.chmod(self.go_path, 0o666)
        path = readable(script) if prefix else TARGETS / script
        self.proc = subprocess.Popen([*prefix, PYTHON, str(path), str(self.ready_path),
                                      str(self.go_path), *args])
        self.ready = open_fifo(self.ready_path, "r", self.proc)
        assert self.ready.readline().strip() == "ready"
        self._pid = self.proc.pid
        if prefix:
            import psutil
            top = psutil.Process(self.proc.pid)         # setpriv execs; unshare forks
            found = [p.pid for p in [top, *top.children(recursive=True)]
                     if p.exe() == os.path.realpath(PYTHON)]
            assert len(found) == 1, found
            self._pid = found[0]

    @property
    def pid(self) -> int:
        return self._pid

    def go(self) -> None:
        with open_fifo(self.go_path, "w", self.proc) as go:
            go.write("go\n")

    def wait_done(self) -> None:
        assert self.ready.readline().strip() == "done"

    def close(self) -> None:
        if self._pid != self.proc.pid:
            # the Python process under a prefix: killing `unshare --fork` leaves its
            # child (pid 1 of the new namespace) running, so it goes first
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.ready.close()


def wait_for_line(stream, needle: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"{needle!r} not seen in: {''.join(seen)}")


def markers_only(options) -> list[str]:
    """attach's options with --no-inject unless they ask for --inject: these helpers
    test the marker path (a target that preloaded the shim uses it anyway)."""
    options = list(options)
    return options if "--inject" in options or "--no-inject" in options else [*options, "--no-inject"]


def record_attached(tmp: Path, script: str, *script_args: str, options=lambda pid: []) -> tuple[Path, int]:
    """`scope attach PID *options(pid)` while a Handshake target does its work; stops
    scope with SIGINT once the target says "done". Returns the recording and the pid."""
    target = Handshake(tmp, script, *script_args)
    out = tmp / "rec"
    scope = subprocess.Popen(scope_cmd("attach", str(target.pid), "-o", str(out), *markers_only(options(target.pid))),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(scope.stderr, "recording pid")
        target.go()
        target.wait_done()
        scope.send_signal(signal.SIGINT)
        _, stderr = scope.communicate(timeout=60)
        assert scope.returncode == 0, stderr
    finally:
        target.go()
        target.close()
        if scope.poll() is None:
            scope.kill()
    return out, target.pid


def start_with_shim(script: str, *args: str, **popen) -> subprocess.Popen:
    """A target with scope_shim preloaded (as `scope run` does), waiting for an attach:
    it prints "ready" first."""
    from scope.probes.shim import build_shim, preload_env
    env = preload_env(build_shim(PYTHON), dict(os.environ))
    path = readable(script) if "user" in popen else TARGETS / script
    target = subprocess.Popen([PYTHON, str(path), *args], stdout=subprocess.PIPE, env=env, **popen)
    assert target.stdout.readline() == b"ready\n"
    return target


def attach_scope(pid: int, out: Path, *options: str) -> subprocess.Popen:
    """`scope attach`, returned once it is recording."""
    scope = subprocess.Popen(scope_cmd("attach", str(pid), "-o", str(out), *markers_only(options)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_line(scope.stderr, "recording pid")
    return scope


@contextlib.contextmanager
def shim_target_attached(tmp: Path, script: str, *args: str, options: tuple[str, ...] = ()):
    """A shim-preloaded target (`start_with_shim`) with `scope attach -o tmp/rec
    *options` on it; yields (target, scope, out); both are gone afterwards."""
    target = start_with_shim(script, *args)
    out = tmp / "rec"
    scope = attach_scope(target.pid, out, *options)
    try:
        yield target, scope, out
    finally:
        if scope.poll() is None:
            scope.kill()
        target.kill()
        target.wait()


def wait_until(cond, what: str, timeout: float = 30.0) -> None:
    """Poll `cond` (every 20 ms) until it is true; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.02)


def wait_for(path: Path, timeout: float = 30.0) -> None:
    """Wait for a file to appear."""
    wait_until(path.exists, f"{path} appears", timeout)


def live_top(out: Path, *live: str) -> dict[str, int]:
    """`scope query --top` of the targets' functions; `live_top(out, "--live")` asks the collector too."""
    return {r["function"]: r["calls"] for r in query_json(out, *live, "--top", "--file", "*/targets/*")}


def wait_capturing(out: Path, timeout: float = 10.0) -> None:
    """The shim turns capture on within a poll of its switch after attach: seen
    live as the idle loop's calls arriving."""
    wait_until(lambda: "idle" in live_top(out, "--live"), "call capture came on", timeout)


def wait_tracing_on(out: Path, timeout: float = 10.0) -> None:
    """The shim's own word that call capture is on: its `tracing` event with state
    1, read live (the switch polls every 20 ms after attach)."""
    wait_until(lambda: any(e["ref"] == 1 for e in query_json(out, "--live", "--kind", "tracing")),
               "the shim turned capture on", timeout)
