"""Decode name records (interned code objects, module and audit names)."""
from __future__ import annotations

import numpy as np

CODE_KIND = {1: "code", 2: "name"}


def _text(raw: bytes) -> str:
    # names come from the target's memory: keep undecodable bytes visible, escaped
    return raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def bare_name(kind: str, file: str, name: str) -> str:
    """A code object's own name from what its record carries: the shim sends the
    qualified name (``Event.__init__``, ``f.<locals>.<lambda>``), CPython's
    markers the bare one, so the last dotted part is the bare name either way.
    Names without a file (exception types, modules, audit events) stay whole."""
    return name.rsplit(".", 1)[-1] if kind == "code" and file else name


def decode_names(records: np.ndarray) -> list[dict]:
    """One dict per name record: code_id, pid, kind, file, function (the bare
    name), qualname (as sent: the shim's qualified name), truncated, image."""
    rows = []
    for rec in records:
        kind = CODE_KIND.get(int(rec["kind"]), "name")
        file, name = _text(bytes(rec["file"])), _text(bytes(rec["name"]))
        rows.append({
            "code_id": int(rec["id"]),
            "pid": int(rec["pid"]),
            "kind": kind,
            "file": file,
            "function": bare_name(kind, file, name),
            "qualname": name,
            "truncated": bool(int(rec["flags"]) & 3),
            "image": int(rec["image"]),
        })
    return rows
