"""`scope query --sql`: DuckDB over the recordings' Parquet files, as they are on disk.

Views: events, calls, code, threads, processes, messages, offcpu, syscalls (the
tables of every recording given, each row with a `recording` column naming its
folder) and sessions (one row per recording: host, target pid, clock anchor).
Times are monotonic ns of each recording's host; `sessions.realtime_ns -
sessions.monotonic_ns` turns them into wall time, so recordings of several
processes or hosts line up. Nothing from a recording is executed: the files are
read as data, and the SQL is the user's own.
"""
from __future__ import annotations

import pyarrow as pa

from ..errors import UsageError
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


def run_sql(recordings: list[Recording], sql: str) -> pa.Table:
    import duckdb  # only for --sql: a heavy import the other queries do not need
    con = duckdb.connect(":memory:")
    for table in ("events",) + TABLES:
        parts = [f"SELECT *, {_quote(str(rec.folder))} AS recording "
                 f"FROM read_parquet([{', '.join(map(_quote, files))}])"
                 for rec in recordings if (files := _files(rec, table))]
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
