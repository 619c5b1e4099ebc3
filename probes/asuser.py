"""Do a piece of file work as another user: in a forked child of scope that
takes that user's numeric ids (no groups, no capabilities) before it touches
anything, so the kernel refuses whatever that user itself could not do.

scope is root; a target's files, its container root and its /tmp are the
target's. Work done there as root would follow a mount or a link the target
made into root's own files (delete them, copy them out, hand them over); done
as the target's user it can only reach what the target already could.

The child answers through a pipe, bounded in bytes and time (the parent kills
it past either); its answer is checked like any input. It is made
non-dumpable, so the user it runs as cannot trace it or read its memory (a
copy of scope's); it can only stop or kill it, which ends the work with one
line. No user or group name is looked up: the ids are numbers.
"""
from __future__ import annotations

import json
import os
import select
import signal
import time
from collections.abc import Callable

from ..errors import ScopeError
from ..text import shown
from . import rootfs

PR_SET_DUMPABLE = 4
MAX_TEXT = 2000          # characters of an error the child reports
_ERRORS: dict[str, type[Exception]] = {cls.__name__: cls for cls in (
    rootfs.RootfsError, rootfs.NoOpenat2, rootfs.NotRegular, rootfs.TooLarge, rootfs.TooMany, rootfs.TooSlow)}


class AsUserError(ScopeError):
    """The work as the target's user did not answer (killed, too slow, too much)."""
    fix = "record without the shim (attach --no-inject, run --no-shim: the interpreter's own markers)"


def close_inherited(keep: tuple[int, ...]) -> None:
    """In a child forked from the collector: close every descriptor but `keep`
    (and stdin/out/err) first thing. It inherits the probes' perf-event and
    link descriptors, and while it holds them a probe scope detaches stays
    attached (seen: calls recorded inside a --max-overhead pause)."""
    low = 3
    for fd in sorted(k for k in keep if k >= 3) + [1 << 20]:
        os.closerange(low, min(fd, os.sysconf("SC_OPEN_MAX")))
        low = fd + 1


def read_reply(src, child: int, timeout: float, limit: int = 64 << 20) -> bytes:
    """The child's whole reply; b"" (and the child killed) past `timeout`
    seconds or `limit` bytes."""
    deadline, parts, size = time.monotonic() + timeout, [], 0
    while True:
        ready, _, _ = select.select([src], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            os.kill(child, signal.SIGKILL)
            return b""
        part = os.read(src.fileno(), 1 << 16)
        if not part:
            return b"".join(parts)
        parts.append(part)
        size += len(part)
        if size > limit:
            os.kill(child, signal.SIGKILL)
            return b""


def host_ids(pid: int) -> tuple[int, int]:
    """Process ``pid``'s user and group as the host sees them (its
    ``/proc/PID/status``; never the owner of ``/proc/PID``, which a
    non-dumpable process shows as root's): the weaker of its ids — the first
    that is not 0 among real, effective, saved and file-system — so a set-id
    program is taken as the user who started it."""
    found: dict[str, list[int]] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid"):
                found[key] = [int(v) for v in value.split()]
    if set(found) != {"Uid", "Gid"}:
        raise OSError(f"no user ids in /proc/{pid}/status")
    return (next((u for u in found["Uid"] if u != 0), 0), next((g for g in found["Gid"] if g != 0), 0))


def needs_child(ids: tuple[int, int] | None) -> bool:
    """Whether work for a user of ``ids`` must run in a child that drops to
    them: whenever they are not root's and scope could do more than they can
    (scope is root; a scope that is not root already has no more than itself)."""
    return ids is not None and ids[0] != 0 and os.geteuid() == 0


def _drop(ids: tuple[int, int]) -> None:
    """Become ``ids`` for good: no groups, gid, then uid (all of real,
    effective and saved: the capabilities go with root's uid)."""
    uid, gid = ids
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise OSError(f"could not become uid {uid}, gid {gid}")
    rootfs.prctl(PR_SET_DUMPABLE, 0)       # the user cannot trace it, nor read its memory


def _child(ids: tuple[int, int], work: Callable[[], bytes], keep: tuple[int, ...], w: int) -> None:
    # pragma: no cover - runs in the forked child; its answer is checked by the parent
    code, reply = 1, b""
    try:
        close_inherited((*keep, w))
        os.umask(0o022)
        _drop(ids)
        reply = b"K" + work()
        code = 0
    except BaseException as exc:   # noqa: BLE001 - said to the parent, never raised here
        kind = type(exc).__name__
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        reply = b"E" + json.dumps({"kind": kind, "errno": getattr(exc, "errno", None) or 0,
                                   "text": text[:MAX_TEXT]}).encode()
    try:
        view = memoryview(reply)
        while view:
            view = view[os.write(w, view):]
    finally:
        os._exit(code)


def as_user(ids: tuple[int, int], work: Callable[[], bytes], *, keep: tuple[int, ...] = (),
            timeout: float = 60.0, limit: int = 64 << 20, errors: dict[str, type[Exception]] | None = None,
            what: str = "the work") -> bytes:
    """What ``work()`` returns, run in a forked child as ``ids`` (uid, gid; no
    groups) which keeps only the descriptors ``keep``; at most ``limit``
    bytes within ``timeout`` seconds. The child's error comes back as the same
    class when ``errors`` (name -> class) or probes/rootfs.py knows it, an
    OSError with its errno, else AsUserError; its text shown escaped."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        _child(ids, work, keep, w)
    os.close(w)
    with os.fdopen(r, "rb") as src:
        data = read_reply(src, child, timeout, limit + 1)
    os.waitpid(child, 0)
    if data[:1] == b"K":
        return data[1:]
    if data[:1] != b"E":
        raise AsUserError(f"{what} as uid {ids[0]} gave no whole answer within {timeout:g} s and "
                          f"{limit >> 20} MiB (too slow, too large, or stopped or killed by that user)")
    try:
        said = json.loads(data[1:])
        kind, number, text = str(said["kind"]), int(said["errno"]), shown(str(said["text"])[:MAX_TEXT])
    except (ValueError, KeyError, TypeError):
        raise AsUserError(f"{what} as uid {ids[0]} answered something malformed") from None
    known = {**_ERRORS, **(errors or {})}
    if kind in known:
        raise known[kind](text)
    if number:
        raise OSError(number, text)
    raise AsUserError(f"{what} as uid {ids[0]} failed: {kind}: {text}")
