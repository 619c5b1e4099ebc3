"""Commands that start a program in another root, namespace or user (`scope
run -- chroot DIR …`, `scope run -- unshare -mpf --root DIR …`, `scope run --
setpriv --reuid=… …`): which program they end up running, in which root, and
whether it is a child of the launcher.

Pure: argument lists in, a :class:`Launch` out. One parser per launcher, in a
table; a launcher may start another (``unshare -m chroot DIR python3 app.py``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import UsageError


@dataclass(frozen=True)
class Launch:
    root: str | None       # the root the program runs in (None: this one)
    program: list[str]     # the program and its arguments, as the root names them
    forks: bool = False    # a launcher forks it (unshare --fork): only --follow records it


def _chroot(args: list[str]) -> tuple[str, list[str], bool]:
    """``chroot [OPTION]… DIR CMD…``"""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] == "--":
            i += 1
            break
        i += 2 if args[i] in ("--userspec", "--groups") else 1
    if i + 1 >= len(args):
        raise UsageError("scope run -- chroot needs a folder and the program to run in it",
                         "e.g. scope run -- chroot /srv/sid /usr/bin/python3.14 app.py")
    return args[i], args[i + 1:], False


# unshare(1)'s options that take a value as the next word (the rest take none,
# or an optional one only after "=")
_UNSHARE_VALUE_LONG = {"--root", "--wd", "--setuid", "--setgid", "--map-user", "--map-group", "--map-users",
                       "--map-groups", "--propagation", "--setgroups", "--monotonic", "--boottime"}
_UNSHARE_VALUE_SHORT = "RwSG"
_UNSHARE_FORK = {"--fork", "--kill-child"}
_UNSHARE_PID = {"--pid"}


def _unshare(args: list[str]) -> tuple[str | None, list[str], bool]:
    """``unshare [OPTION]… CMD…``: its --root, and whether the program is its child
    (--fork, or --kill-child which implies it)."""
    root, fork, i = None, False, 0
    while i < len(args) and args[i].startswith("-"):
        word = args[i]
        i += 1
        if word == "--":
            break
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            if name in _UNSHARE_VALUE_LONG and not eq:
                if i >= len(args):
                    raise UsageError(f"scope run -- unshare: {name} needs a value", "see unshare(1)")
                value, i = args[i], i + 1
            fork |= name in _UNSHARE_FORK
            root = value if name == "--root" else root
            continue
        for k, letter in enumerate(word[1:], 1):     # a cluster of short options: -mpf, -R/srv/x
            fork |= letter == "f"
            if letter in _UNSHARE_VALUE_SHORT:
                value = word[k + 1:]
                if not value:
                    if i >= len(args):
                        raise UsageError(f"scope run -- unshare: -{letter} needs a value", "see unshare(1)")
                    value, i = args[i], i + 1
                root = value if letter == "R" else root
                break
    if i >= len(args):
        raise UsageError("scope run -- unshare needs the program to run",
                         "e.g. scope run -- unshare --mount --pid --fork --root /srv/sid python3.15 app.py")
    return root, args[i:], fork


# setpriv(1)'s options that take a value as the next word (or after "=")
_SETPRIV_VALUE = {"--reuid", "--regid", "--ruid", "--rgid", "--euid", "--egid", "--groups", "--inh-caps",
                  "--ambient-caps", "--bounding-set", "--securebits", "--pdeathsig", "--selinux-label",
                  "--apparmor-profile", "--landlock-access", "--landlock-rule", "--seccomp-filter"}


def _setpriv(args: list[str]) -> tuple[None, list[str], bool]:
    """``setpriv [OPTION]… CMD…`` (another user, fewer privileges): it execs the
    program itself, in the same root."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        word = args[i]
        i += 1
        if word == "--":
            break
        if word in _SETPRIV_VALUE:
            i += 1
    if i >= len(args):
        raise UsageError("scope run -- setpriv needs the program to run",
                         "e.g. scope run -- setpriv --reuid=65534 --regid=65534 --clear-groups python3 app.py")
    return None, args[i:], False


LAUNCHERS = {"chroot": _chroot, "unshare": _unshare, "setpriv": _setpriv}


def split_launch(cmd: list[str]) -> Launch:
    """The program `cmd` runs through any launchers, and the root it runs in;
    ``root`` is a path here, ``program`` as that root names it."""
    root, forks = None, False
    while cmd and os.path.basename(cmd[0]) in LAUNCHERS:
        into, cmd, fork = LAUNCHERS[os.path.basename(cmd[0])](cmd[1:])
        forks |= fork
        if into is not None:
            # a later launcher's folder is named inside the root chosen before it
            root = os.path.realpath(into) if root is None else os.path.join(root, into.lstrip("/"))
    return Launch(root, cmd, forks)
