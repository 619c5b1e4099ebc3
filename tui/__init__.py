"""`scope tui`: the Textual front end (see tui/app.py)."""
