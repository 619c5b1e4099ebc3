"""Says, on each line read from stdin, whether scope_shim's call capture is on
(run with the shim preloaded; see test_attach.py). Calls work() meanwhile."""
import sys
import threading

from scope_shim import _shim
from scope_shim._switch import SWITCH


def work():
    while True:
        sum(range(100))


threading.Thread(target=work, daemon=True).start()
print("ready", flush=True)
for _ in sys.stdin:
    print(f"{int(SWITCH.on)} {int(_shim._tracing_requested())}", flush=True)
