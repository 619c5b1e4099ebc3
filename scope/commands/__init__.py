"""Subcommands. Each is a small object with ``help``, ``prepare_parser`` and ``run``."""
from __future__ import annotations

from . import attach, diff, doctor, explain, export, mcp, query, report, run, stats, store, tui

COMMANDS = {
    "attach": attach.AttachCommand(),
    "run": run.RunCommand(),
    "query": query.QueryCommand(),
    "export": export.ExportCommand(),
    "report": report.ReportCommand(),
    "stats": stats.StatsCommand(),
    "explain": explain.ExplainCommand(),
    "mcp": mcp.McpCommand(),
    "diff": diff.DiffCommand(),
    "store": store.StoreCommand(),
    "tui": tui.TuiCommand(),
    "doctor": doctor.DoctorCommand(),
}
