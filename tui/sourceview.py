"""The source file of a frame, around its line, when the file is readable here.
Read as text and shown as text: nothing from a recording is executed."""
from __future__ import annotations

from pathlib import Path

from rich.text import Text

from ..text import shown

CONTEXT = 30          # lines shown around the frame's line
MAX_BYTES = 4 << 20   # a file bigger than this is not shown


def source_text(frame: dict | None) -> Text:
    if frame is None:
        return Text("no frame of the selected thread is running at the cursor", style="dim")
    path, line = frame.get("file") or "", frame.get("line") or 1
    head = Text(f"{shown(str(frame.get('name')))}  {shown(path)}:{line}\n\n", style="bold")
    if not path or path.startswith("<"):
        return head + Text("(no source file: built-in or frozen module)", style="dim")
    try:
        p = Path(path)
        if p.stat().st_size > MAX_BYTES:
            return head + Text("(file too large to show)", style="dim")
        lines = p.read_text(errors="replace").splitlines()
    except OSError as exc:
        return head + Text(f"(cannot read it here: {exc.strerror})", style="dim")
    lo = max(line - 1 - CONTEXT // 3, 0)
    out = head
    for n in range(lo, min(lo + CONTEXT, len(lines))):
        mark = "▶" if n + 1 == line else " "
        out.append(f"{mark}{n + 1:>5}  ", style="bold yellow" if n + 1 == line else "dim")
        # the file is the target's too: its control characters shown, not sent
        out.append(shown(lines[n].expandtabs()) + "\n", style="bold" if n + 1 == line else "")
    return out
