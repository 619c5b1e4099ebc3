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
    name), qualname (as sent: the shim's qualified name), truncated, image.
    Column by column (a churning target sends tens of thousands a second)."""
    if not len(records):
        return []
    texts: dict[bytes, str] = {}       # a file's path decoded once per batch
    def text(raw: bytes) -> str:
        found = texts.get(raw)
        if found is None:
            found = texts[raw] = _text(raw)
        return found
    rows = []
    for code_id, pid, kind, flags, image, file, name in zip(
            records["id"].tolist(), records["pid"].tolist(), records["kind"].tolist(), records["flags"].tolist(),
            records["image"].tolist(), records["file"].tolist(), records["name"].tolist()):
        kind = CODE_KIND.get(kind, "name")
        file, name = text(file), _text(name)
        rows.append({"code_id": code_id, "pid": pid, "kind": kind, "file": file,
                     "function": bare_name(kind, file, name), "qualname": name,
                     "truncated": bool(flags & 3), "image": image})
    return rows
