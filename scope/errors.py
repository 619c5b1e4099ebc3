"""The one error family of scope. Each error carries the fix a user needs.

``scope.cli.main`` prints ``scope: error: <message>`` on one line (plus the fix)
and exits with ``exit_code``; no traceback reaches the user.
"""
from __future__ import annotations


class ScopeError(Exception):
    """Base class: a failure explained to the user, with what fixes it."""

    exit_code = 1
    fix = ""

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        if fix is not None:
            self.fix = fix

    def line(self) -> str:
        text = str(self)
        return f"{text}; {self.fix}" if self.fix else text


class UsageError(ScopeError):
    """The command line itself is wrong."""
    exit_code = 2


class TargetError(ScopeError):
    """The process to record is missing, not Python, or cannot be traced."""


class NoMarkersError(TargetError):
    fix = ("add --inject (scope's shim brings its own probes; CPython 3.11+), or run the target "
           "with Debian's /usr/bin/python3.11, which has USDT markers")


class PermissionsError(ScopeError):
    fix = "run scope as root (sudo scope …) or grant CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE"


class EnvironmentProblem(ScopeError):
    fix = "run `make setup` (or `sudo ./setup.sh`), then `scope doctor` to check"


class AttachError(ScopeError):
    fix = "run `scope doctor --pid PID` to see what is missing"


class RecordingError(ScopeError):
    """A recording folder is missing, damaged or not a recording."""
