"""`scope explain`'s output formats, one function each behind one signature
(report, human -> text), in ``FORMATS``. Every string a target chose (names,
files, exception types) is shown escaped (scope.text); JSON keeps it exact,
with JSON's escapes."""
from __future__ import annotations

import json

from scope.text import json_safe, shown
from scope.units import human_ns

from . import Report
from .finding import Finding, located

LABELS = {"high": "HIGH", "medium": "MEDIUM", "low": "low"}


def _value(key: str, value, human: bool) -> str:
    if isinstance(value, dict) and {"function", "file", "line"} <= set(value):
        rest = {k: v for k, v in value.items() if k not in ("function", "file", "line")}
        return shown(located(value)) + ("" if not rest else " " + _inline(rest, human))
    if isinstance(value, dict):
        return _inline(value, human)
    if isinstance(value, list) and key == "stack":
        return " > ".join(shown(str(v)) for v in value)
    if isinstance(value, list):
        return "; ".join(_value(key, v, human) for v in value) if value else "-"
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int) and key.endswith("_ns") and human:
        return human_ns(value)
    if isinstance(value, int) and human:
        return f"{value:,}"
    if isinstance(value, float) and key.startswith("share") and human:
        return f"{value:.1%}"
    return shown(str(value))


def _inline(values: dict, human: bool) -> str:
    """A nested dict on one line: name value, name value."""
    return ", ".join(f"{shown(str(k))} {_value(str(k), v, human)}" for k, v in values.items())


def _of(f: Finding, wall_ns: int) -> str:
    return f"{human_ns(wall_ns)} wall time" if f.share_of == "wall time" else f.share_of


def _lines(n: int, f: Finding, human: bool, wall_ns: int) -> list[str]:
    stake = human_ns(f.at_stake_ns) if human else f"{f.at_stake_ns} ns"
    out = [f"{n}. [{LABELS[f.severity]}] {f.detector}: {shown(f.title)}",
           f"   where     {shown(located(f.where))}",
           f"   at stake  {stake} ({f.share:.1%} of {_of(f, wall_ns)})"]
    for k, v in f.evidence.items():
        out.append(f"   {shown(k):<9} {_value(k, v, human)}")
    out += [f"   why       {shown(f.why)}", f"   try       {shown(f.what_to_try)}"]
    return out


def _narrative(report: Report, heading: str) -> list[str]:
    """The narrative's lines, escaped (a model's text is not scope's), under a heading."""
    if report.narrative is None:
        return []
    return ["", f"{heading}narrative (a language model's, from the findings above)", "",
            *(shown(line) for line in report.narrative.splitlines())]


def table(report: Report, human: bool) -> str:
    if not report.findings:
        lines = ["no findings: nothing crossed a detector's threshold (docs/explain.md; --threshold lowers them)"]
    else:
        lines = []
        for n, f in enumerate(report.findings, 1):
            lines += _lines(n, f, human, report.wall_ns) + [""]
    lines += [f"note: {shown(n)}" for n in report.notes]
    return "\n".join(lines).rstrip("\n") + "\n" + "".join(line + "\n" for line in _narrative(report, ""))


_MD = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|#"})


def _md(text: str) -> str:
    return shown(text).translate(_MD)


def markdown(report: Report, human: bool) -> str:
    lines = [f"# scope explain: {len(report.findings)} finding(s) over {human_ns(report.wall_ns)}", ""]
    for n, f in enumerate(report.findings, 1):
        lines += [f"## {n}. {_md(f.title)}", "",
                  f"- **severity**: {f.severity} ({f.detector})",
                  f"- **where**: {_md(located(f.where))}",
                  f"- **at stake**: {human_ns(f.at_stake_ns)} ({f.share:.1%} of {_of(f, report.wall_ns)})"]
        lines += [f"- **{_md(k)}**: {_md(_value(k, v, True))}" for k, v in f.evidence.items()]
        lines += ["", f"**Why it matters.** {_md(f.why)}", "", f"**What to try.** {_md(f.what_to_try)}", ""]
    if not report.findings:
        lines += ["No findings: nothing crossed a detector's threshold.", ""]
    lines += [f"> note: {_md(n)}" for n in report.notes]
    return "\n".join(lines).rstrip("\n") + "\n" + "".join(line + "\n" for line in _narrative(report, "## "))


def as_json(report: Report, human: bool) -> str:
    data = {"wall_ns": report.wall_ns, "findings": [f.as_dict() for f in report.findings], "notes": report.notes}
    if report.narrative is not None:
        data["narrative"] = report.narrative
    return json_safe(json.dumps(data, ensure_ascii=False)) + "\n"


FORMATS = {"table": table, "markdown": markdown, "json": as_json}
