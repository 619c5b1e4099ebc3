"""Time on CPU versus time waiting, for --top and stats.

With --offcpu a recording knows when each thread was off the CPU and which
Python call was running then (the innermost: the one whose own code, or a C
function it called, waited). Each call's self time then splits into CPU and
waiting. Without it, times include waits; `idle_code` names the functions
that are usually only waiting, so --hide-idle can leave them out.

Pure: tables in, tables out.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .names import qualified, row_keys
from .reader import Recording

# (file's end, qualified name): the standard library's usual waiting frames
IDLE = {
    "/threading.py": ("Condition.wait", "Condition.wait_for", "Event.wait", "Thread.join",
                      "Thread._wait_for_tstate_lock", "Semaphore.acquire", "Barrier.wait"),
    "/queue.py": ("Queue.get", "Queue.join"),
    "/selectors.py": ("SelectSelector.select", "PollSelector.select", "EpollSelector.select",
                      "DevpollSelector.select", "KqueueSelector.select"),
    "/concurrent/futures/_base.py": ("Future.result", "Future.exception", "wait", "as_completed"),
    "/concurrent/futures/thread.py": ("_worker",),
    "/multiprocessing/connection.py": ("wait", "Connection.recv", "Connection.poll", "Listener.accept"),
    "/subprocess.py": ("Popen.wait", "Popen._wait", "Popen.communicate"),
    "/socketserver.py": ("BaseServer.serve_forever",),
    "/asyncio/base_events.py": ("BaseEventLoop.run_forever",),
}


def idle_code(code: pa.Table) -> pa.Array:
    """(pid, code id) keys of the usual waiting frames (IDLE)."""
    keys = row_keys(code).to_pylist()
    out = []
    for k, f, q in zip(keys, code["file"].to_pylist(), qualified(code).to_pylist()):
        for end, names in IDLE.items():
            if f and q in names and f.endswith(end):
                out.append(k)
    return pa.array(out, pa.uint64())


def has_offcpu(rec: Recording) -> bool:
    return (rec.folder / "offcpu.parquet").exists()


def with_self_waits(rec: Recording, calls: pa.Table) -> pa.Table:
    """Calls (with call_id) with a ``self_wait_ns`` column: the time off CPU while
    each was the innermost running call (0 when none); unchanged without --offcpu."""
    if not has_offcpu(rec) or not len(calls):
        return calls
    off = rec.offcpu()
    off = off.filter(pc.is_valid(off["call_id"]))
    if not len(off):
        return calls.append_column("self_wait_ns", pa.array(np.zeros(len(calls), np.int64)))
    sums = off.group_by("call_id").aggregate([("duration_ns", "sum")])
    idx = pc.index_in(calls["call_id"], value_set=sums["call_id"])
    wait = pc.fill_null(pc.take(sums["duration_ns_sum"], idx), 0)
    return calls.append_column("self_wait_ns", pc.cast(wait, pa.int64()))
