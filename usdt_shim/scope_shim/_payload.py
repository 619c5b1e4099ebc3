"""Encode application payloads: JSON when possible, else repr; secrets redacted; size-capped.

Runs only while a collector listens (the C side checks the semaphore first).
"""
from __future__ import annotations

import json
import re

TRUNCATED = 0x10
REDACTED = 0x20
REPR = 0x40

REDACTED_VALUE = "[REDACTED]"
DEFAULT_MAX_BYTES = 16 * 1024
# key names (case-insensitive) whose values never leave the process
DEFAULT_REDACT = (
    r"pass(word|wd|phrase)?", r"secret", r"token", r"(^|[_\-.])(api|private|secret|access)?[_\-]?key(s)?$",
    r"^key$", r"auth(orization)?", r"cookie", r"credential", r"session[_\-]?id", r"signature",
)


class Encoder:
    """Callable: value -> (bytes, flags)."""

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES, redact=DEFAULT_REDACT):
        if not isinstance(max_bytes, int) or max_bytes < 16:
            raise ValueError("max_bytes must be an int of at least 16")
        self.max_bytes = max_bytes
        self.patterns = re.compile("|".join(f"(?:{p})" for p in redact), re.I) if redact else None

    def secret(self, key) -> bool:
        return bool(self.patterns and isinstance(key, str) and self.patterns.search(key))

    def _redact(self, value, depth: int, seen: set, hit: list):
        if depth > 32:
            return value
        if isinstance(value, dict):
            if id(value) in seen:
                return value
            seen.add(id(value))
            out = {}
            for k, v in value.items():
                if self.secret(k):
                    out[k] = REDACTED_VALUE
                    hit.append(k)
                else:
                    out[k] = self._redact(v, depth + 1, seen, hit)
            return out
        if isinstance(value, (list, tuple)):
            if id(value) in seen:
                return value
            seen.add(id(value))
            return [self._redact(v, depth + 1, seen, hit) for v in value]
        return value

    def __call__(self, value):
        flags = 0
        hit: list = []
        try:
            value = self._redact(value, 0, set(), hit)
        except Exception:   # a hostile __eq__/__iter__ must not escape into the application
            value = repr(value)
        if hit:
            flags |= REDACTED
        used_repr = []

        def fallback(obj):
            used_repr.append(1)
            return _safe_repr(obj)
        try:
            text = json.dumps(value, default=fallback, ensure_ascii=False, separators=(",", ":"))
        except Exception:   # cycles, NaN keys, hostile objects: repr is the fallback
            text = json.dumps(_safe_repr(value), ensure_ascii=False)
            used_repr.append(1)
        if used_repr:
            flags |= REPR
        data = text.encode("utf-8", "backslashreplace")
        if len(data) > self.max_bytes:
            data = data[:self.max_bytes].decode("utf-8", "ignore").encode("utf-8")
            flags |= TRUNCATED
        return data, flags


def _safe_repr(value) -> str:
    try:
        return repr(value)
    except Exception as exc:
        return f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
