"""Decode name records (interned code objects, module and audit names)."""
from __future__ import annotations

import numpy as np

CODE_KIND = {1: "code", 2: "name"}


def _text(raw: bytes) -> str:
    # names come from the target's memory: keep undecodable bytes visible, escaped
    return raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def decode_names(records: np.ndarray) -> list[dict]:
    """One dict per name record: code_id, pid, kind, file, function, truncated, image."""
    rows = []
    for rec in records:
        rows.append({
            "code_id": int(rec["id"]),
            "pid": int(rec["pid"]),
            "kind": CODE_KIND.get(int(rec["kind"]), "name"),
            "file": _text(bytes(rec["file"])),
            "function": _text(bytes(rec["name"])),
            "truncated": bool(int(rec["flags"]) & 3),
            "image": int(rec["image"]),
        })
    return rows
