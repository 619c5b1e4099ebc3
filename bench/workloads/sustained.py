"""Calls leaf() for argv[1] seconds, at most argv[2] calls/s (0: as fast as it can).

Prints {"seconds", "calls"}. Two events (call, return) per call.
"""
import json
import sys
import time


def leaf(x):
    return x + 1


def main(seconds, rate):
    start = time.monotonic()
    end = start + seconds
    calls = 0
    t0 = time.perf_counter()
    while (now := time.monotonic()) < end:
        if rate and calls > rate * (now - start):
            time.sleep(0.0005)
            continue
        for i in range(1000):
            leaf(i)
        calls += 1000
    print(json.dumps({"seconds": time.perf_counter() - t0, "calls": calls}))


if __name__ == "__main__":
    main(float(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0)
