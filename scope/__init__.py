"""scope: an out-of-process recorder and time-travel debugger for Python.

This folder holds the command line (`cli.py`, one module per subcommand in
`commands/`) and what every part shares: event kinds (`kinds.py`, copied from
the shim's header and checked against it), errors that carry their fix
(`errors.py`), escaping of what targets and files say (`text.py`), units
(`units.py`) and the version. The parts live beside it: `scope.probes`,
`scope.collector`, `scope.store`, `scope.tui` (docs/architecture.md).
"""
