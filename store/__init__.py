"""Recordings on disk and the questions asked of them: the schema, the
writer and hot tier, the catalog, the reader and its validation; names,
filters and the call tree every view shares (`names.py`, `filters.py`,
`calltree.py`); queries, time travel, SQL, stats, diff; exports
(`exports/`, one module per format); compaction, retention, verify, live
reading. Pure functions over Arrow tables wherever possible.
"""
