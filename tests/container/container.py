"""A process in a container, made as Docker and Podman make one, for the tests.

The root is an image of tests/container/build.sh (sid's python3.14 and
python3.15, which need a newer glibc than the host's; bookworm's python3.11),
mounted read-only
inside a new mount namespace only, with an overlay whose upper layer is a
host folder the test can inspect (what the container wrote); a new PID
namespace in which the program is pid 1; folders of the host bound in. From
the host, the program's /proc/PID/exe names a path that is not the file here.
"""
from __future__ import annotations

import os
import shlex
import stat
import subprocess
import time
from pathlib import Path

CACHE = Path(os.environ.get("SCOPE_CONTAINER_CACHE", "/var/cache/scope-container"))
IMAGE = CACHE / "sid.img"              # python3.14, python3.15
BOOKWORM = CACHE / "bookworm.img"      # Debian 12's python3.11


def children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return found


class Container:
    """``argv`` run as pid 1 of a new container; ``binds``: container path -> host folder."""

    def __init__(self, folder: Path, argv: list[str], binds: dict[str, str] | None = None,
                 image: Path = IMAGE, hidden: tuple[str, ...] = ()) -> None:
        """``hidden``: paths of the image the container does not have (an image
        built without them), hidden by overlay whiteouts."""
        self.folder, self.argv, self.binds, self.image = folder, argv, binds or {}, image
        self.hidden = hidden
        self.upper = folder / "upper"          # what the container wrote to its root
        self.proc: subprocess.Popen | None = None

    def script(self) -> str:
        d = shlex.quote(str(self.folder))
        lines = ["set -e", f"mount -o loop,ro {shlex.quote(str(self.image))} {d}/lower",
                 f"mount -t overlay overlay -o lowerdir={d}/lower,upperdir={d}/upper,workdir={d}/work {d}/root",
                 f"mount -t proc proc {d}/root/proc"]
        for inside, host in self.binds.items():
            lines += [f"mkdir -p {d}/root{shlex.quote(inside)}",
                      f"mount --bind {shlex.quote(host)} {d}/root{shlex.quote(inside)}"]
        lines.append(f"exec chroot {d}/root " + " ".join(shlex.quote(a) for a in self.argv))
        return "\n".join(lines)

    def start(self, **popen) -> subprocess.Popen:
        for sub in ("lower", "upper", "work", "root"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        for path in self.hidden:        # a whiteout: a character device 0/0 in the upper layer
            out = self.upper / path.lstrip("/")
            out.parent.mkdir(parents=True, exist_ok=True)
            os.mknod(out, 0o600 | stat.S_IFCHR, os.makedev(0, 0))
        self.proc = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--propagation", "private",
                                      "--kill-child", "sh", "-c", self.script()], **popen)
        return self.proc

    def pid(self, timeout: float = 10.0) -> int:
        """The host's pid of the program (pid 1 inside), once it runs the program."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for child in children(self.proc.pid):
                try:
                    if os.readlink(f"/proc/{child}/exe").endswith(os.path.basename(self.argv[0])):
                        return child
                except OSError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"the container ended ({self.proc.returncode}) before running {self.argv}")
            time.sleep(0.02)
        raise TimeoutError(f"the container did not start {self.argv}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def written(self) -> list[str]:
        """Every path the container created or changed in its root (its overlay's upper layer)."""
        hidden = {h.lstrip("/") for h in self.hidden}
        return sorted(r for r in (str(p.relative_to(self.upper)) for p in self.upper.rglob("*"))
                      if r not in hidden and not any(h.startswith(r + "/") for h in hidden))
