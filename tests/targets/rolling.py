"""Calls tick() exactly N times (argv[1], default 600), 10 ms apart (600: about
6.5 s): long enough for the collector to roll finished calls to disk more than
once (tests/integration/test_segments.py). Prints "ready" first."""
import sys
import time


def tick(i):
    return i + 1


print("ready", flush=True)
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 600):
    tick(i)
    time.sleep(0.01)
