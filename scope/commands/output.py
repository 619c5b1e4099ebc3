"""Print Arrow tables as an aligned table, JSON (one array of objects) or CSV;
every string as scope.text makes it safe to show."""
from __future__ import annotations

import csv
import json
import sys

import pyarrow as pa

from ..text import json_safe, shown


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    return shown(str(value))


def _json_value(value):
    """What SQL answers hold beyond JSON's types: decimals (DuckDB's sum of
    integers), times, bytes."""
    import datetime
    import decimal
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_table(table: pa.Table, fmt: str, out=None) -> None:
    out = out or sys.stdout
    rows = table.to_pylist()
    if fmt == "json":
        # the exact text, with JSON's escapes for what a terminal would act on
        out.write(json_safe(json.dumps(rows, ensure_ascii=False, default=_json_value)))
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow([shown(name) for name in table.column_names])
        for row in rows:
            writer.writerow(["" if v is None else shown(v) if isinstance(v, str) else v for v in row.values()])
    else:
        cells = [[_cell(v) for v in row.values()] for row in rows]
        widths = [max([len(name)] + [len(r[i]) for r in cells]) for i, name in enumerate(table.column_names)]
        numeric = [pa.types.is_integer(f.type) or pa.types.is_floating(f.type) for f in table.schema]
        def fmt_row(values):
            return "  ".join(v.rjust(w) if num else v.ljust(w)
                             for v, w, num in zip(values, widths, numeric)).rstrip()
        out.write(fmt_row([shown(name) for name in table.column_names]) + "\n")
        for r in cells:
            out.write(fmt_row(r) + "\n")
        if not rows:
            out.write("(no rows)\n")
