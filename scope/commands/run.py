"""`scope run -- CMD …`: start a Python program with the probes already attached."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from ..collector.session import Session
from ..collector.status import StatusLine
from ..errors import NoMarkersError, TargetError, UsageError
from ..probes import rootfs
from ..probes.calls import CallsSource, markers_lack, markers_report_entries
from ..probes.container import new_folder, remove
from ..probes.shim import (
    add_shim_sites,
    build_shim,
    preload_env,
    shim_extension,
    shim_in_root,
)
from ..probes.target import inspect_binary
from .attach import print_program
from .launchers import split_launch
from .recording import (
    add_output_options,
    attach_path,
    call_filters,
    check_flight,
    check_output,
    check_privileges,
    flight_recorder,
    output_folder,
    print_summary,
    probe_plan,
    program_config,
    recording_options,
    report_errors,
    unsafe_markers,
)

# The child waits on a pipe so the probes are attached before its first
# instruction; exec keeps its pid, which the probes are bound to.
_WAIT_THEN_EXEC = 'read _ <&{fd}; exec "$@"'


def _resolve_inside(root: str, cmd: list[str], depth: int = 0) -> tuple[str, tuple[int, int]]:
    """The ELF executable ``cmd`` runs inside ``root`` (a chroot DIR), as the root
    names it, and its identity: found on PATH, its symlinks and #! lines
    followed inside the root, from the host side (probes/rootfs.py)."""
    if depth > 4:
        raise TargetError(f"{cmd[0]} in {root}: more than 4 #! interpreters in a row",
                          "name the Python interpreter itself")
    with rootfs.held(root) as fd:
        path = rootfs.find_program(fd, cmd[0], os.environ.get("PATH", os.defpath))
        if path is None:
            raise TargetError(f"command not found in {root}: {cmd[0]}", "give the full path of the program")
        path = rootfs.realpath(fd, path)
        head, ident = rootfs.head(fd, path, 256, root=root), rootfs.identity(fd, path)
    if head.startswith(b"#!"):
        words = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
        if words and os.path.basename(words[0]) == "env" and len(words) > 1:
            return _resolve_inside(root, words[1:], depth + 1)
        if words:
            return _resolve_inside(root, words, depth + 1)
    return path, ident


def resolve_interpreter(cmd: list[str], *, pyenv: bool = True) -> str:
    """The ELF executable `cmd` will run: the program itself or its script's #! interpreter."""
    path = shutil.which(cmd[0])
    if path is None:
        raise TargetError(f"command not found: {cmd[0]}", "give the full path of the program")
    if pyenv and os.path.basename(os.path.dirname(path)) == "shims" and shutil.which("pyenv"):
        # a pyenv shim is a shell script choosing the interpreter: ask pyenv which
        # (the user's own pyenv, for the user's own command: bounded all the same)
        try:
            found = subprocess.run(["pyenv", "which", os.path.basename(path)],
                                   capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            raise TargetError(f"`pyenv which {os.path.basename(path)}` did not answer within 30 s",
                              "give the full path of the interpreter") from None
        if found.returncode == 0 and found.stdout.strip():
            return os.path.realpath(found.stdout.strip())
    path = os.path.realpath(path)
    with open(path, "rb") as fh:
        head = fh.read(256)
    if head.startswith(b"#!"):
        words = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
        if words and os.path.basename(words[0]) == "env" and len(words) > 1:
            return resolve_interpreter(words[1:], pyenv=pyenv)
        if words:
            return resolve_interpreter(words, pyenv=pyenv)
    return path


class RunCommand:
    help = "run a Python program under scope, recording from its first instruction"

    def prepare_parser(self, parser) -> None:
        add_output_options(parser)
        parser.add_argument("--no-shim", dest="shim", action="store_false",
                            help="do not preload scope_shim (record with the interpreter's markers only)")
        parser.add_argument("--no-follow", dest="follow", action="store_false",
                            help="record only the program itself, not the processes it forks")
        parser.add_argument("cmd", nargs="...", metavar="-- CMD [ARGS...]",
                            help="the program to run, e.g. -- /usr/bin/python3.11 app.py")

    def run(self, args) -> int:

        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            raise UsageError("no command to run", "usage: scope run -- /usr/bin/python3.11 app.py")
        config = program_config(args, follow=args.follow)
        call_filters(args)                       # usage errors first
        unsafe_markers(args)
        flight = flight_recorder(args)
        check_output(args)
        launch = split_launch(cmd)
        root = launch.root
        if launch.forks and not args.follow:
            raise UsageError(f"{os.path.basename(cmd[0])} --fork runs the program as its child, which "
                             "--no-follow leaves out", "drop --no-follow")
        if root is None:
            target = inspect_binary(resolve_interpreter(launch.program))
        else:       # an interpreter of another root: found, and its files read, inside it
            try:
                inside, ident = _resolve_inside(root, launch.program)
            except OSError as exc:
                raise TargetError(f"cannot find {launch.program[0]} in {root}: {exc.strerror or exc}",
                                  "give the full path of the program inside that folder") from None
            target = inspect_binary(root + inside)
            st = os.stat(target.exe)
            if (st.st_dev, st.st_ino) != ident:     # the host's walk to it left the root: a link changed
                raise TargetError(f"{root}{inside} changed while scope looked at it", "run it again")
            target.names[target.exe] = inside
            target.root = root
        if target.version is None:
            raise TargetError(f"{cmd[0]} runs {target.exe}, which is not a CPython interpreter",
                              "name the Python interpreter itself (not a wrapper script), "
                              "e.g. scope run -- /usr/bin/python3.11 app.py")
        env, placed = dict(os.environ), None
        if args.shim and target.version >= (3, 11) and root is not None:
            env, placed = _with_shim_in_root(target, root, env)
        elif args.shim and target.version >= (3, 11):
            env = _with_shim(target, env)
        target.calls = _calls_source(target, args.shim)
        try:
            return self._run(args, cmd, target, config, env, flight)
        finally:
            if placed is not None:
                remove(root, placed, _runs_as())

    def _run(self, args, cmd, target, config, env, flight) -> int:
        if not target.sites:
            raise NoMarkersError(f"{target.exe} (CPython {target.version_text}) has no USDT markers",
                                 "run it with the shim (drop --no-shim), or use Debian's /usr/bin/python3.11")
        plan = probe_plan(args, target)
        check_flight(flight, version=target.version, shim=any(s.provider == "scope" for s in target.sites))
        if args.ebpf:
            return print_program(target, plan, config)
        check_privileges()
        config = attach_path(args, config)
        return _record_child(cmd, target, plan, config, args, env, flight)


def _calls_source(target, shim: bool) -> dict:
    """session.json's word on where calls come from: the preloaded shim, or
    (--no-shim, CPython before 3.11) the markers, and what they lack."""
    if any(s.provider == "scope" for s in target.sites):
        return CallsSource(True, "preloaded by scope run", None).describe(injected=True)
    why = "asked for (--no-shim)" if not shim else "the shim needs CPython 3.11 or newer"
    return CallsSource(False, why, markers_lack(target.version, target.markers),
                       markers_report_entries(target.version, target.markers)).describe(injected=False)


def _runs_as() -> tuple[int, int]:
    """The user the program runs as: scope's own (root under sudo today, issue 36;
    a command that drops privileges itself, `chroot --userspec`, still counts
    as root's here, which it was started as)."""
    return os.getuid(), os.getgid()


def _with_shim(target, env):
    """Build the shim for the target's interpreter (its headers read as the
    program's user, or the interpreter's owner if weaker); its probes join the target's sites."""
    root = build_shim(target.exe, ids=_runs_as())
    add_shim_sites(target, str(shim_extension(root)))
    return preload_env(root, env)


def _with_shim_in_root(target, root: str, env):
    """The shim for an interpreter of another root: built with that root's headers,
    placed in a new folder of its /tmp (removed after the run), preloaded from there."""
    folder = new_folder()
    shim_in_root(target, root, folder, owner=_runs_as())
    return preload_env(Path(folder), env), folder


def _record_child(cmd, target, plan, config, args, env, flight=None) -> int:
    read_fd, write_fd = os.pipe()
    child = subprocess.Popen(["/bin/sh", "-c", _WAIT_THEN_EXEC.format(fd=read_fd), "scope-run", *cmd],
                             pass_fds=(read_fd,), env=env)
    os.close(read_fd)
    target.pid, target.cmdline = child.pid, list(cmd)
    released = False

    def release():
        nonlocal released
        if not released:
            os.write(write_fd, b"go\n")
            os.close(write_fd)
            released = True

    try:
        session = Session(target, plan, output_folder(args, child.pid), recording_options(args, config, flight),
                          is_alive=lambda: child.poll() is None, status=StatusLine(),
                          exit_code=lambda: child.poll())
        session.attach()
    except BaseException:
        child.kill()
        child.wait()
        os.close(write_fd)
        raise
    signals = []

    def on_signal(sig):
        # The terminal already sent SIGINT to the child; forward the others.
        # A second signal stops recording at once and leaves the child running.
        # Two signals arriving before the first is handled are one to Python (and
        # to the kernel): the line below says when the next one will count.
        signals.append(sig)
        if len(signals) > 1:
            session.request_stop("signal")
            return
        if sig != signal.SIGINT and child.poll() is None:
            child.send_signal(sig)
        print(f"scope: {signal.Signals(sig).name} is the program's to handle; another signal stops "
              "recording and leaves the program running", file=sys.stderr, flush=True)

    try:
        result = session.record(on_attached=release, on_signal=on_signal)
    finally:
        if not released:
            release()
    code = child.wait() if result.stop_reason != "signal" else child.poll()
    print_summary(result, target)
    if report_errors(result) and not code:
        return 1
    if code is None:
        return 0
    return code if code >= 0 else 128 - code
