"""Peers that attach to a running workload: bcc's pythonflow and py-spy."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

# bcc's pythonflow-bpfcc is a shell wrapper around this; run it directly so signals reach it
PYTHONFLOW = ["/usr/sbin/uflow", "-l", "python"]
PY_SPY = Path(sys.executable).with_name("py-spy")


def start(mode: str, pid: int, tmp: Path) -> subprocess.Popen:
    """Attach `mode` (pythonflow or py-spy) to pid; returns once it is tracing."""
    if mode == "pythonflow":
        log = tmp / "flow.txt"
        peer = subprocess.Popen(PYTHONFLOW + [str(pid)], stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.monotonic() + 60
        while "Ctrl-C" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        return peer
    peer = subprocess.Popen([str(PY_SPY), "record", "--pid", str(pid), "-r", "100", "--nonblocking",
                             "-o", str(tmp / "spy.svg")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(1.0)
    return peer


def stop(peer: subprocess.Popen) -> None:
    """SIGINT (py-spy writes its file then); pythonflow may still be printing a backlog: kill it."""
    peer.send_signal(signal.SIGINT)
    try:
        peer.wait(timeout=15)
    except subprocess.TimeoutExpired:
        peer.kill()
        peer.wait()


def flow_facts(tmp: Path) -> dict:
    """Lines pythonflow printed, and the samples it says it lost."""
    text = (tmp / "flow.txt").read_text()
    lost = sum(int(w) for line in text.splitlines() if "lost" in line.lower()
               for w in line.split() if w.isdigit())
    return {"events": text.count("\n"), "dropped": lost, "bytes": (tmp / "flow.txt").stat().st_size}
