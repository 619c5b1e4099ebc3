"""Subcommands. Each is a small object with ``help``, ``prepare_parser`` and ``run``."""
from __future__ import annotations

from . import attach, diff, doctor, export, query, report, run, stats, store, tui

COMMANDS = {
    "attach": attach.AttachCommand(),
    "run": run.RunCommand(),
    "query": query.QueryCommand(),
    "export": export.ExportCommand(),
    "report": report.ReportCommand(),
    "stats": stats.StatsCommand(),
    "diff": diff.DiffCommand(),
    "store": store.StoreCommand(),
    "tui": tui.TuiCommand(),
    "doctor": doctor.DoctorCommand(),
}
