"""The recording session (`session.py`) and its parts: the kernel's ring
buffers and the shim's shared-memory rings (`bpfrings.py`, `shmring.py`,
`shimrings.py`), names and their identity (`names.py`, `namebook.py`,
`identity.py`, `sources.py`), the correlator (`correlate.py`, C engine
`_correlate.c`), followed processes and threads, the capture schedule under
--max-overhead (`capture.py`, `governor.py`), the flight recorder, counts
(`tally.py`), the live server and `finish.py`. Imports the store and probes.
"""
