"""Chrome's Trace Event Format (JSON): chrome://tracing and ui.perfetto.dev."""
from __future__ import annotations

import json

from ..reader import Recording
from .base import Exporter
from .calls import placed_calls, thread_names


def chrome(rec: Recording) -> str:
    """Trace Event Format: one complete event ("X") per call, µs with ns fractions."""
    t0 = rec.start_ns
    events = [{"name": c.name, "cat": "python", "ph": "X", "pid": c.pid, "tid": c.tid,
               "ts": (c.start - t0) / 1000, "dur": (c.end - c.start) / 1000,
               "args": {"file": c.file, "line": c.line, "call_id": c.call_id}} for c in placed_calls(rec)]
    for (pid, tid), name in thread_names(rec).items():
        events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}})
    return json.dumps({"traceEvents": events, "displayTimeUnit": "ns",
                       "otherData": {"recorded_by": "scope", "host": rec.meta.get("host", "")}})


EXPORTER = Exporter("chrome", ".json", chrome, "Trace Event JSON (chrome://tracing, ui.perfetto.dev)")
