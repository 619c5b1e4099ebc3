"""Shared by tests/ and bench/: skips fail under CI and `make test` (tests/strict_skips.py)."""
pytest_plugins = ["tests.strict_skips"]
