"""`scope tui`: the Textual front end. The app (`app.py`) is given its data
source (`datasource.py`: a recording, one in progress, or a store); one
screen or widget per module (`main.py`, `recordings.py`, `help.py`,
`timeline.py`, `flame.py`, `panels.py`, `sourceview.py` for source code).
"""
