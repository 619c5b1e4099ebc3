"""`scope query --sql`: DuckDB over the recordings' Parquet files, as they are on disk.

Views: events, calls, code, threads, processes, messages, offcpu, syscalls (the
tables of every recording given, each row with a `recording` column naming its
folder; `events` with the call and return events the calls rows stand for,
store/derive.py) and sessions (one row per recording: host, target pid, clock anchor).
Times are monotonic ns of each recording's host; `sessions.realtime_ns -
sessions.monotonic_ns` turns them into wall time, so recordings of several
processes or hosts line up. Nothing from a recording is executed: the files are
read as data, and the SQL is the user's own.
"""
from __future__ import annotations

import pyarrow as pa

from ..errors import UsageError
from .derive import D_CALL, D_RETURN
from .reader import Recording
from .validate import SCHEMAS

TABLES = ("calls", "code", "threads", "processes", "messages", "offcpu", "syscalls")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _files(rec: Recording, table: str) -> list[str]:
    if table == "events":
        return [str(rec.folder / seg) for seg in rec.meta.get("segments", [])]
    if table == "calls" and rec.meta.get("calls_segments"):
        return [str(rec.folder / seg) for seg in rec.meta["calls_segments"]]
    path = rec.folder / f"{table}.parquet"
    return [str(path)] if path.exists() else []


def _parquet(files: list[str]) -> str:
    return f"read_parquet([{', '.join(map(_quote, files))}])"


def _derived_events(rec: Recording) -> str | None:
    """The events view's part that a recording's calls rows stand for (schema 2,
    store/derive.py: the call at start_ns with its code's first line, the return
    at end_ns with line 0), or None."""
    calls = _files(rec, "calls") if rec.derives else []
    if not calls:
        return None
    code = _files(rec, "code") or [str(rec.folder / seg) for seg in rec.meta.get("code_segments", [])]
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
            f"FROM {rows} k WHERE k.derived & {D_RETURN} <> 0 AND k.end_ns IS NOT NULL")


def run_sql(recordings: list[Recording], sql: str, *, confined: bool = False) -> pa.Table:
    """``sql`` over the recordings' views. ``confined`` (for a caller that is not
    the user at a shell: `scope mcp`): one SELECT only, and no file read but
    the recordings' own — DuckDB's external access off outside their folders,
    its configuration locked — so a query cannot write, attach, load, or read
    anything else."""
    import duckdb  # only for --sql: a heavy import the other queries do not need
    if confined:
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as exc:
            raise UsageError(f"sql: {str(exc).strip().splitlines()[0]}", "one SELECT statement") from None
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise UsageError("sql: only one SELECT statement is run here (read-only)",
                             "e.g. SELECT function, count(*) FROM calls JOIN code USING (pid, code_id) GROUP BY 1")
    con = duckdb.connect(":memory:")
    for table in ("events",) + TABLES:
        parts = [f"SELECT *, {_quote(str(rec.folder))} AS recording FROM {_parquet(files)}"
                 for rec in recordings if (files := _files(rec, table))]
        if table == "events":      # with those the calls rows stand for
            parts += [f"SELECT * FROM ({part})" for rec in recordings if (part := _derived_events(rec))]
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
    if confined:
        folders = ", ".join(_quote(str(path) + "/") for rec in recordings
                            for path in {rec.folder, rec.folder.resolve()})
        con.execute(f"SET allowed_directories = [{folders}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    try:
        rel = con.sql(sql)
        if rel is None:                      # a statement without rows (e.g. SET)
            return pa.table({})
        return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise UsageError(f"--sql: {first}",
                         "views: events, calls, code, threads, processes, messages, offcpu, "
                         "syscalls, sessions; join names on (pid, code_id)") from None
