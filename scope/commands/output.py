"""Print Arrow tables as an aligned table, JSON (one array of objects) or CSV;
every string as scope.text makes it safe to show.

Tables come in two kinds. **Human** (a terminal, or ``--format table``):
durations in units (``*_ns`` columns: ``2.60 s``, ``864.5 µs``), sizes in
bytes units (``*_bytes``), shares as percentages (``*_pct``), thousands
separators on every integer. **Exact** (piped without ``--format``): integers
as they are, so a script reading the table gets the numbers JSON and CSV give.
"""
from __future__ import annotations

import csv
import datetime
import decimal
import json
import sys

import pyarrow as pa

from ..text import json_safe, shown
from ..units import human_bytes, human_ns

FORMATS = ("table", "json", "csv")


def _human_header(name: str) -> str:
    for suffix, shown_as in (("_ns", ""), ("_bytes", ""), ("_pct", " %")):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)] + shown_as
    return name


def fields_line(values: dict, human: bool) -> str:
    """``name value`` pairs on one line (a summary's figures), as table cells would show them."""
    return "  ".join(f"{_human_header(k) if human else k} {_cell(v, k, human)}" for k, v in values.items())


def _cell(value, name: str, human: bool) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return shown(str(value))
    if not human:
        return str(value) if isinstance(value, int) else f"{value:.6f}"
    if name.endswith("_ns"):
        return human_ns(int(value))
    if name.endswith("_bytes"):
        return human_bytes(int(value))
    if name.endswith("_pct"):
        return f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if name.endswith("_s"):                   # a time in seconds: to the µs
        return f"{value:,.6f}"
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4g}"


def _json_value(value):
    """What SQL answers hold beyond JSON's types: decimals (DuckDB's sum of
    integers), times, bytes."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _file_and_line(table: pa.Table) -> pa.Table:
    """People read a place as ``file:line``: a ``line`` column right after ``file``
    joins it."""
    names = table.column_names
    if "file" not in names or names.index("file") + 1 >= len(names) or names[names.index("file") + 1] != "line":
        return table
    i = names.index("file")
    joined = [None if f is None else f if ln is None else f"{f}:{ln}"
              for f, ln in zip(table["file"].to_pylist(), table["line"].to_pylist())]
    return table.drop_columns(["line"]).set_column(i, "file", pa.array(joined, pa.string()))


WAITS_INCLUDED = ("times include waiting: record with --offcpu to split time on CPU from waiting; "
                  "--hide-idle leaves out the usual waiting frames")


def without_unknown_waits(table: pa.Table, human: bool) -> tuple[pa.Table, str | None]:
    """A per-function table whose CPU/wait split is unknown (recorded without
    --offcpu): the note that says so, and for people the two empty columns gone
    (kept, null, in JSON and CSV, so their shape never changes)."""
    if "self_wait_ns" not in table.column_names or not table.num_rows \
            or table["self_wait_ns"].null_count != table.num_rows:
        return table, None
    return (table.drop_columns(["self_cpu_ns", "self_wait_ns"]) if human else table), WAITS_INCLUDED


def human_wanted(fmt: str | None, out=None) -> bool:
    """Units and separators: asked for (--format table), or a terminal reads it."""
    out = out or sys.stdout
    return fmt == "table" or (fmt is None and out.isatty())


def json_rows(rows: list[dict]) -> str:
    """Rows as `--format json` prints them: the exact text, with JSON's escapes
    for what a terminal would act on."""
    return json_safe(json.dumps(rows, ensure_ascii=False, default=_json_value))


def write_table(table: pa.Table, fmt: str | None, out=None, *, human: bool | None = None) -> None:
    """``fmt``: json, csv, table, or None (a table; human on a terminal)."""
    out = out or sys.stdout
    rows = table.to_pylist()
    if fmt == "json":
        out.write(json_rows(rows))
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow([shown(name) for name in table.column_names])
        for row in rows:
            writer.writerow(["" if v is None else shown(v) if isinstance(v, str) else v for v in row.values()])
        return
    human = human_wanted(fmt, out) if human is None else human
    if human:
        table = _file_and_line(table)
        rows = table.to_pylist()
    names = table.column_names
    cells = [[_cell(v, name, human) for v, name in zip(row.values(), names)] for row in rows]
    headers = [shown(_human_header(n) if human else n) for n in names]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [pa.types.is_integer(f.type) or pa.types.is_floating(f.type) for f in table.schema]

    def fmt_row(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()
    out.write(fmt_row(headers) + "\n")
    for r in cells:
        out.write(fmt_row(r) + "\n")
    if not rows:
        out.write("(no rows)\n")
