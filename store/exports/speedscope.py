"""speedscope's file format: an evented profile per thread (speedscope.app)."""
from __future__ import annotations

import json

from ..reader import Recording
from .base import Exporter
from .calls import Call, nested, placed_calls, thread_names


def speedscope(rec: Recording) -> str:
    """An evented profile per thread; frames shared by name, file and first line."""
    frames: dict[tuple[str, str, int | None], int] = {}
    frame_list = []
    by_thread: dict[tuple[int, int], list[Call]] = {}
    for c in placed_calls(rec):
        by_thread.setdefault((c.pid, c.tid), []).append(c)
    names = thread_names(rec)
    profiles = []
    for key in sorted(by_thread):
        events = []
        for ts, opens, c in nested(by_thread[key]):
            fk = (c.name, c.file, c.line)
            if fk not in frames:
                frames[fk] = len(frame_list)
                frame_list.append({"name": c.name, "file": c.file, **({"line": c.line} if c.line else {})})
            events.append({"type": "O" if opens else "C", "frame": frames[fk], "at": ts - rec.start_ns})
        profiles.append({"type": "evented", "name": f"pid {key[0]} tid {key[1]}"
                         + (f" ({names[key]})" if key in names else ""),
                         "unit": "nanoseconds", "startValue": events[0]["at"], "endValue": events[-1]["at"],
                         "events": events})
    return json.dumps({"$schema": "https://www.speedscope.app/file-format-schema.json",
                       "shared": {"frames": frame_list}, "profiles": profiles,
                       "name": str(rec.folder.name), "exporter": "scope"})


EXPORTER = Exporter("speedscope", ".speedscope.json", speedscope, "speedscope.app")
