"""Strict mode for the whole suite (tests/ and bench/): a skip is a failure.

A test that skips passes quietly, so a broken set-up (no root, no bcc, no
interpreter for the version matrix) would turn whole tiers into skips and CI
would stay green. Under CI (`CI` set to anything but "" / "0" / "false") and
`make test` (which sets `SCOPE_STRICT=1`), every skip of a test not marked
`opt_in` is turned into a failure that names what was missing.

A test is opt-in only for a reason the README lists (the soak: ten minutes of
a steady load); it says so with `@pytest.mark.opt_in("why")`.
"""
from __future__ import annotations

import os

import pytest


def strict() -> bool:
    """True under CI and `make test`: skips fail unless the test is opt-in."""
    def on(name: str) -> bool:
        return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")
    return on("CI") or on("SCOPE_STRICT")


def pytest_configure(config):
    config.addinivalue_line("markers", "opt_in(reason): runs only when asked; may skip under CI")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or not strict() or item.get_closest_marker("opt_in"):
        return
    if hasattr(report, "wasxfail"):         # an expected failure is not a skip
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (f"{item.nodeid} would skip, and skips fail under CI / make test "
                       f"(SCOPE_STRICT=1): {reason}. Set-up (./setup.sh) must provide it, "
                       f"or the test must be marked opt_in with its reason in the README.")
