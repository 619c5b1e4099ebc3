"""The kernel side and the target's: eBPF programs (`*.bpf.c`) and their
loader, the record layouts read from the shared header (`layout.py`), USDT
notes and target inspection (`usdt.py`, `target.py`), the probe plan
(`plan.py`), the kernel's features (`features.py`), the shim's build and
injection (`shim.py`, `inject.py`, `remote_exec.py`), containers
(`container.py`, `debheaders.py`). Imports only what all share.
"""
