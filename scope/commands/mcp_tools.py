"""The read-only tools `scope mcp` offers an AI assistant over the recordings
in one store folder. Each answers as the command it stands for does — the
query tools go through `scope query`'s own parser and answer (`query.answer`),
so a tool's rows are `scope query … --format json`'s — and each is bounded:
at most ``MAX_ROWS`` rows and ``MAX_TEXT`` characters, saying so when it cut.

The assistant is not the user at a shell, and what it reads was chosen by the
target (function names, payloads): recordings are named by their folder's
name in the store and nothing else is reachable; SQL runs confined (one
SELECT, no file but the recording's: store/sql.py) and within its bounds
(time, memory, threads, and its row limit inside the query); every string
comes out as JSON, with JSON's escapes for control characters.
"""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..store.explain import explain
from ..store.explain.render import as_json
from ..store.fleet import describe, find_recordings, is_recording
from ..store.reader import open_recording
from ..store.sql import SqlBounds, run_sql
from ..text import json_safe
from .output import json_rows
from .query import QueryCommand, answer

MAX_ROWS = 500
MAX_TEXT = 100_000          # characters of one answer
MAX_SQL_BYTES = 32 << 20    # of the sql tool's rows as DuckDB gives them, before they become text
NAME_MAX = 255              # bytes of a folder's name


@dataclass(frozen=True)
class Store:
    """The folder of recordings the tools may read."""
    root: Path

    def recording(self, name: str) -> Path:
        """A recording of the store by its folder's name; nothing outside it (the
        root itself, when it is one recording, by its own name)."""
        root = self.root.resolve()
        if _folder_name(name) and name == root.name and is_recording(root):
            return root
        path = (self.root / name).resolve() if _folder_name(name) else None
        if path is None or path.parent != root or not path.is_dir():
            shown_name = repr(name[:NAME_MAX]) + ("…" if len(name) > NAME_MAX else "")
            raise UsageError(f"no recording {shown_name} in {self.root}", "list_recordings names them")
        return path


def _folder_name(name: str) -> bool:
    """Whether ``name`` can be one folder's name (no path, no NUL, not too long,
    encodable): anything else names no recording."""
    try:
        raw = os.fsencode(name)
    except (UnicodeError, TypeError):
        return False
    return 0 < len(raw) <= NAME_MAX and b"/" not in raw and b"\0" not in raw and name not in (".", "..")


def _bounded(rows: list, what: str = "rows", more: bool = False) -> str:
    """JSON text of at most MAX_ROWS rows and MAX_TEXT characters, cut whole rows
    at a time and saying so (``more``: ``rows`` are the first of more)."""
    total = len(rows)
    rows = rows[:MAX_ROWS]
    text = json_rows(rows)
    while len(text) > MAX_TEXT and rows:
        rows = rows[: len(rows) // 2]
        text = json_rows(rows)
    if len(rows) < total or more:
        of = f"more than {total}" if more else f"{total}"
        return json_safe(json.dumps({what: json.loads(text), "note": f"{len(rows)} of {of} {what}: "
                                     "narrow the question (a time range, a function, a smaller limit)"},
                                    ensure_ascii=False))
    return text


class _Parser(argparse.ArgumentParser):
    def error(self, message):   # never the usage on the server's stderr, never an exit
        raise UsageError(f"bad arguments: {message}", "see the tool's parameters")


def _query(store: Store, recording: str, *args: str) -> str:
    """`scope query RECORDING ARGS --format json`'s rows."""
    parser = _Parser(prog="scope query", add_help=False, exit_on_error=False)
    QueryCommand().prepare_parser(parser)
    try:
        parsed = parser.parse_args([str(store.recording(recording)), *args, "--format", "json"])
    except (argparse.ArgumentError, SystemExit) as exc:
        raise UsageError(f"bad arguments: {exc}", "see the tool's parameters") from None
    table, _, _ = answer(parsed)
    return _bounded(table.to_pylist())


def _limit(n: int, default: int) -> str:
    if n is None:
        n = default
    if not 0 < n <= MAX_ROWS:
        raise UsageError(f"limit {n} is not between 1 and {MAX_ROWS}", f"e.g. {default}")
    return str(n)


def _range(since: str | None, until: str | None, function: str | None) -> list[str]:
    # --flag=VALUE: a value beginning with "-" stays a value, not an option
    return [f"{flag}={value}" for flag, value in (("--since", since), ("--until", until), ("--function", function))
            if value is not None]


def _sql(store: Store, recording: str, query: str, limit: int, bounds: SqlBounds) -> str:
    """The first ``limit`` rows of a confined query; DuckDB stops at ``limit`` + 1."""
    n = int(_limit(limit, 100))
    table = run_sql([open_recording(store.recording(recording))], query, confined=True, bounds=bounds, rows=n)
    if table.nbytes > MAX_SQL_BYTES:
        raise UsageError(f"the answer is {table.nbytes:,} bytes, more than an answer holds",
                         "select fewer or shorter columns, e.g. left(payload, 200), or a smaller limit")
    return _bounded(table.slice(0, n).to_pylist(), more=len(table) > n)


def tools(store: Store, bounds: SqlBounds | None = None) -> list[tuple[str, Callable, str]]:
    """(name, function, description) of every tool; each returns JSON text.
    ``bounds``: the sql tool's (default: store/sql.py's)."""
    bounds = bounds or SqlBounds()

    def list_recordings() -> str:
        return _bounded([describe(p) | {"recording": p.name} for p in find_recordings(store.root)], "recordings")

    def top(recording: str, limit: int = 20, since: str | None = None, until: str | None = None,
            function: str | None = None) -> str:
        return _query(store, recording, "--top", "--limit", _limit(limit, 20), *_range(since, until, function))

    def slowest(recording: str, limit: int = 10, function: str | None = None) -> str:
        return _query(store, recording, "--slowest", _limit(limit, 10), *_range(None, None, function))

    def calls(recording: str, since: str, until: str, function: str | None = None, limit: int = 100) -> str:
        return _query(store, recording, "--calls", "--limit", _limit(limit, 100), *_range(since, until, function))

    def stack_at(recording: str, time: str, tid: int | None = None) -> str:
        return _query(store, recording, f"--at={time}", *([f"--tid={int(tid)}"] if tid is not None else []))

    def around(recording: str, call_id: int) -> str:
        return _query(store, recording, f"--around={int(call_id)}")

    def findings(recording: str) -> str:
        return as_json(explain(open_recording(store.recording(recording))), True)

    def sql(recording: str, query: str, limit: int = 100) -> str:
        return _sql(store, recording, query, limit, bounds)

    return [
        ("list_recordings", list_recordings, "The recordings in the store: name, state, start, length, pid, "
         "program, events, calls, drops, bytes. Other tools take a recording by this name."),
        ("top", top, "Top functions of a recording by total time: calls, total, self, mean, p50/p95/p99 "
         "(ns); optionally within since/until (seconds from the start) and for functions matching a glob."),
        ("slowest", slowest, "The longest calls of a recording, with thread, start (s), duration (ns), parent."),
        ("calls", calls, "The calls between since and until (seconds from the start), optionally of "
         "functions matching a glob."),
        ("stack_at", stack_at, "Time travel: each thread's stack at a time (seconds from the start), "
         "optionally of one thread."),
        ("around", around, "One call in context: its ancestors, siblings and children."),
        ("findings", findings, "scope explain's findings: what is wrong and where (repeated work, lock "
         "contention, exceptions as control flow, rare slow paths, serialized awaits, GC pressure, import "
         "cost, hot spots), each with evidence, why it matters and what to try."),
        ("sql", sql, "One read-only SQL SELECT (DuckDB) over the recording's views: events, calls, code, "
         "threads, processes, messages, offcpu, syscalls, sessions; join names on (pid, code_id). At most "
         f"{MAX_ROWS} rows; a query runs at most {bounds.seconds:g} s in {bounds.memory} of memory."),
    ]
