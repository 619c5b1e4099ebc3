"""`scope query --sql`: DuckDB over the recordings' Parquet files, as they are on disk.

Views: events, calls, code, threads, processes, messages, offcpu, syscalls (the
tables of every recording given, each row with a `recording` column naming its
folder; `events` with the call and return events the calls rows stand for,
store/derive.py) and sessions (one row per recording: host, target pid, clock anchor).
Times are monotonic ns of each recording's host; `sessions.realtime_ns -
sessions.monotonic_ns` turns them into wall time, so recordings of several
processes or hosts line up. Nothing from a recording is executed: the files are
read as data, and the SQL is the user's own.

Every query is bounded (``SqlBounds``): a time limit (a timer interrupts DuckDB),
DuckDB's ``memory_limit`` and ``threads``, and, when the caller wants only so
many rows, the limit on the query itself so DuckDB stops there instead of
building the whole answer. DuckDB spills to a private folder made for the call
and removed after (never ``<cwd>/.tmp``); confined, it does not spill at all,
so the only files a query can name are the views' own.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass

import pyarrow as pa

from ..errors import UsageError
from .derive import D_CALL, D_RETURN
from .reader import Recording
from .validate import SCHEMAS

TABLES = ("calls", "code", "threads", "processes", "messages", "offcpu", "syscalls")
SPILL_MAX = "4GB"           # of DuckDB's temporary files (unconfined: the user's own query)
ENV = {"seconds": "SCOPE_SQL_SECONDS", "memory": "SCOPE_SQL_MEMORY", "threads": "SCOPE_SQL_THREADS"}
_SIZE = re.compile(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", re.IGNORECASE)
VIEWS_HINT = ("views: events, calls, code, threads, processes, messages, offcpu, syscalls, sessions; "
              "join names on (pid, code_id)")



def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _files(rec: Recording, table: str) -> list[str]:
    """The table's files, each as ``/proc/self/fd/N`` of the checked file (a
    regular file of the folder, no link followed: store/safeopen.py), held open
    until the query has run (``rec.dir.unpin()``)."""
    if table == "events":
        return [rec.pinned(seg) for seg in rec.meta.get("segments", [])]
    if table == "calls" and rec.meta.get("calls_segments"):
        return [rec.pinned(seg) for seg in rec.meta["calls_segments"]]
    name = f"{table}.parquet"
    return [rec.pinned(name)] if rec.has(name) else []


def _parquet(files: list[str]) -> str:
    return f"read_parquet([{', '.join(map(_quote, files))}])"


def _derived_events(rec: Recording) -> tuple[str, list[str]] | None:
    """The events view's part that a recording's calls rows stand for (schema 2,
    store/derive.py: the call at start_ns with its code's first line, the return
    at end_ns with line 0) and the files it reads, or None."""
    calls = _files(rec, "calls") if rec.derives else []
    if not calls:
        return None
    code = _files(rec, "code") or [rec.pinned(seg) for seg in rec.meta.get("code_segments", [])]
    lines = (f"(SELECT pid, code_id, min(first_line) AS first_line FROM {_parquet(code)} GROUP BY pid, code_id)"
             if code else "(SELECT NULL::INTEGER AS pid, NULL::UINTEGER AS code_id, NULL::INTEGER AS first_line)")
    rows = f"(SELECT pid, tid, code_id, start_ns, end_ns, derived FROM {_parquet(calls)} WHERE derived > 0)"
    common = ("k.pid, k.tid, k.code_id, 0::INTEGER AS arg, 0::SMALLINT AS flags, NULL::BIGINT AS ref, "
              "NULL::BIGINT AS parent, NULL::BIGINT AS task, NULL::VARCHAR AS payload, "
              f"{_quote(str(rec.folder))} AS recording")
    return (f"SELECT k.start_ns AS ts, 'call' AS kind, coalesce(c.first_line, 0)::INTEGER AS line, {common} "
            f"FROM {rows} k LEFT JOIN {lines} c ON c.pid = k.pid AND c.code_id = k.code_id "
            f"WHERE k.derived & {D_CALL} <> 0 AND k.start_ns IS NOT NULL "
            f"UNION ALL SELECT k.end_ns AS ts, 'return' AS kind, 0::INTEGER AS line, {common} "
            f"FROM {rows} k WHERE k.derived & {D_RETURN} <> 0 AND k.end_ns IS NOT NULL"), calls + code


def parse_seconds(text: str) -> float:
    """A query's time limit: seconds, more than 0 (at most a day)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        raise UsageError(f"sql time limit {text!r} is not a number of seconds between 0 and 86400", "e.g. 30")
    return value


def parse_memory(text: str) -> str:
    """DuckDB's memory_limit: a size with its unit (512MB, 2GiB)."""
    if not _SIZE.fullmatch(text.strip()):
        raise UsageError(f"sql memory limit {text!r} is not a size", "e.g. 512MB or 2GB")
    return text.strip()


def parse_threads(text: str) -> int:
    """DuckDB's threads: 1 to 64."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 64:
        raise UsageError(f"sql threads {text!r} is not a number from 1 to 64", "e.g. 2")
    return int(text)


@dataclass(frozen=True)
class SqlBounds:
    """What one query may take: ``seconds`` of wall time (then DuckDB is
    interrupted), DuckDB's ``memory_limit`` and ``threads``."""
    seconds: float = 10.0
    memory: str = "512MB"
    threads: int = 2

    @classmethod
    def from_env(cls, environ) -> SqlBounds:
        """The defaults, each raised or lowered by its variable (``ENV``)."""
        parse = {"seconds": parse_seconds, "memory": parse_memory, "threads": parse_threads}
        given = {key: parse[key](environ[var]) for key, var in ENV.items() if environ.get(var)}
        return cls(**given)


def _one_select(sql: str) -> None:
    import duckdb  # only for --sql: a heavy import the other queries do not need
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise UsageError(f"sql: {str(exc).strip().splitlines()[0]}", "one SELECT statement") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise UsageError("sql: only one SELECT statement is run here (read-only)",
                         "e.g. SELECT function, count(*) FROM calls JOIN code USING (pid, code_id) GROUP BY 1")


def _views(con, recordings: list[Recording]) -> list[str]:
    """Make the views; the files they read."""
    files: list[str] = []
    for table in ("events",) + TABLES:
        parts = []
        for rec in recordings:
            if own := _files(rec, table):
                files += own
                parts.append(f"SELECT *, {_quote(str(rec.folder))} AS recording FROM {_parquet(own)}")
        if table == "events":      # with those the calls rows stand for
            for rec in recordings:
                if derived := _derived_events(rec):
                    files += derived[1]
                    parts.append(f"SELECT * FROM ({derived[0]})")
        if parts:
            con.execute(f"CREATE VIEW {table} AS " + " UNION ALL BY NAME ".join(parts))
        else:       # none written (no calls, no --offcpu): an empty view, so a query still runs
            empty = SCHEMAS[table].empty_table()
            con.register(table, empty.append_column("recording", pa.array([], pa.string())))
    sessions = pa.Table.from_pylist([{
        "recording": str(rec.folder), "host": rec.meta.get("host"),
        "pid": rec.meta.get("target", {}).get("pid"), "started_ns": rec.start_ns,
        "stopped_ns": rec.meta.get("stopped_ns"), "monotonic_ns": rec.anchor[0],
        "realtime_ns": rec.anchor[1], "stop_reason": rec.meta.get("stop_reason"),
    } for rec in recordings])
    con.register("sessions", sessions)
    return files


def _bound(con, bounds: SqlBounds, spill: str | None, readable: list[str] | None) -> None:
    """DuckDB's limits; ``readable``: confined to those files (the views'),
    nothing else opened, loaded or changed after. (DuckDB lets a query read its
    temporary folder, so confined it has none: ``spill`` None.)"""
    con.execute(f"SET temp_directory = {_quote(spill or '')}")
    # DuckDB draws a progress bar on stdout after 2 s: into `scope query`'s CSV, or `scope mcp`'s protocol
    con.execute("SET enable_progress_bar = false")
    if readable is not None:
        paths = ", ".join(_quote(os.path.abspath(p)) for p in dict.fromkeys(readable))
        con.execute(f"SET allowed_paths = [{paths}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
    con.execute(f"SET memory_limit = {_quote(bounds.memory)}")
    con.execute(f"SET threads = {int(bounds.threads)}")
    if spill:
        con.execute(f"SET max_temp_directory_size = {_quote(SPILL_MAX)}")
    if readable is not None:
        con.execute("SET lock_configuration = true")


class _Deadline:
    """Interrupts a DuckDB connection after ``seconds`` unless ended first."""

    def __init__(self, con, seconds: float):
        self.con, self.expired, self._lock, self._done = con, False, threading.Lock(), False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if not self._done:
                self.expired = True
                self.con.interrupt()

    def end(self) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


def run_sql(recordings: list[Recording], sql: str, *, confined: bool = False, bounds: SqlBounds | None = None,
            rows: int | None = None) -> pa.Table:
    """``sql`` over the recordings' views, within ``bounds`` (default: the
    environment's, ``SqlBounds.from_env``). ``rows``: the caller wants at most
    that many — the query is limited to ``rows + 1`` (one more tells it was
    cut). ``confined`` (for a caller that is not the user at a shell: `scope
    mcp`): one SELECT only, and no file read but the views' own — DuckDB's
    external access off but for them, no temporary folder, its configuration
    locked — so a query cannot write, attach, load, or read anything else."""
    import duckdb  # only for --sql: a heavy import the other queries do not need
    bounds = bounds or SqlBounds.from_env(os.environ)
    if confined:
        _one_select(sql)
    spill = None if confined else tempfile.mkdtemp(prefix="scope-sql-")   # 0700, ours
    con = duckdb.connect(":memory:")
    deadline = _Deadline(con, bounds.seconds)
    try:
        files = _views(con, recordings)
        _bound(con, bounds, spill, files if confined else None)
        rel = con.sql(sql)
        if rel is None:                      # a statement without rows (e.g. SET)
            return pa.table({})
        if rows is not None:
            rel = rel.limit(rows + 1)
        return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    except duckdb.Error as exc:
        raise _explained(exc, deadline.expired, bounds, "sql" if confined else "--sql") from None
    finally:
        deadline.end()
        con.close()
        for rec in recordings:
            rec.dir.unpin()
        if spill:
            shutil.rmtree(spill, ignore_errors=True)


def _explained(exc, expired: bool, bounds: SqlBounds, what: str) -> UsageError:
    """DuckDB's error as one line with its fix; a bound reached names the bound."""
    import duckdb  # only for --sql: a heavy import the other queries do not need
    if expired and isinstance(exc, duckdb.InterruptException):
        return UsageError(f"{what}: the query ran past its time limit of {bounds.seconds:g} s and was stopped",
                          f"narrow it (a time range, a LIMIT) or raise the limit: {ENV['seconds']}=60, "
                          "scope mcp --sql-seconds 60")
    first = str(exc).strip().splitlines()[0]
    if isinstance(exc, duckdb.OutOfMemoryException):
        return UsageError(f"{what}: {first} (memory limit {bounds.memory})",
                          f"narrow the query or raise the limit: {ENV['memory']}=2GB, scope mcp --sql-memory 2GB")
    return UsageError(f"{what}: {first}", VIEWS_HINT)
