"""Names for rows: code ids are per process, so rows (with pid and code_id)
meet the `code` table on (pid, code id).

The store's public helpers for that join: the key, the name a row is shown and
grouped by, the columns a query adds, and scope's own code (hidden unless
asked). Pure: Arrow tables in, Arrow arrays or tables out.
"""
from __future__ import annotations

import fnmatch

import pyarrow as pa
import pyarrow.compute as pc


def code_key(pid, code_id) -> pa.Array:
    """(pid, code id) as one uint64: rows match names on both (the shim numbers its own)."""
    return pc.bit_wise_or(pc.shift_left(pc.cast(pid, pa.uint64()), pa.scalar(32, pa.uint64())),
                          pc.cast(code_id, pa.uint64()))


def row_keys(table: pa.Table) -> pa.Array:
    """The (pid, code id) key of every row of a table with pid and code_id."""
    return code_key(table["pid"], table["code_id"])


def qualified(code: pa.Table) -> pa.ChunkedArray:
    """Each code row's name as shown and grouped: qualified (``Event.__init__``)
    where the recording has it, else the bare name (recordings made before the
    qualname column, names from CPython's own markers)."""
    return pc.coalesce(code["qualname"], code["function"])


def with_names(table: pa.Table, code: pa.Table) -> pa.Table:
    """``table`` with function (qualified where known: `qualified`), file and
    first_line columns, by (pid, code id); null where the code is unknown."""
    idx = pc.index_in(row_keys(table), value_set=row_keys(code))
    return (table.append_column("function", pc.take(qualified(code), idx))
                 .append_column("file", pc.take(code["file"], idx))
                 .append_column("first_line", pc.take(code["first_line"], idx)))


def matching(code: pa.Table, function: str | None, file: str | None) -> pa.Array | None:
    """The (pid, code id) keys of the code rows the globs select (None: no glob
    given, everything). ``function`` matches the bare name (handle) or the
    qualified one (Server.handle, Server.*)."""
    if function is None and file is None:
        return None
    keys = row_keys(code).to_pylist()
    funcs = code["function"].to_pylist()
    quals = qualified(code).to_pylist()
    files = code["file"].to_pylist()
    keep = [k for k, fn, qn, fl in zip(keys, funcs, quals, files)
            if (function is None or fnmatch.fnmatchcase(fn or "", function)
                or fnmatch.fnmatchcase(qn or "", function))
            and (file is None or fnmatch.fnmatchcase(fl or "", file))]
    return pa.array(keep, type=pa.uint64())


def plain_ids(keys: pa.Array | None) -> set[int] | None:
    """The code ids (without their pid) of (pid, code id) keys: for pruning files
    by their statistics, which know code ids only."""
    return None if keys is None else {k & 0xFFFFFFFF for k in keys.to_pylist()}


def scope_code(code: pa.Table) -> pa.Array:
    """The (pid, code id) keys of scope's own code in a target: the shim package
    (``…/scope_shim/…``: its switch thread, its import) and the ``boot/sitecustomize.py``
    beside it that `scope run` preloads. Shown only when asked (--scope-frames)."""
    files = code["file"].to_pylist()
    roots = {f.split("/scope_shim/")[0] for f in files if f and "/scope_shim/" in f}
    boots = {f"{r}/boot/sitecustomize.py" for r in roots}
    keys = row_keys(code).to_pylist()
    return pa.array([k for k, f in zip(keys, files) if f and ("/scope_shim/" in f or f in boots)], pa.uint64())


def without_scope(t: pa.Table, code: pa.Table) -> pa.Table:
    """Rows (with pid and code_id) of everything but scope's own code."""
    ours = scope_code(code)
    if not len(ours):
        return t
    return t.filter(pc.invert(pc.is_in(row_keys(t), value_set=ours)))


def named_calls(calls: pa.Table, code: pa.Table) -> pa.Table:
    """Calls without scope's own, with their names: what every summary starts from."""
    return with_names(without_scope(calls, code), code)
