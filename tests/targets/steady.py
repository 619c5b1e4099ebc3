"""A steady load for the soak test: leaf() RATE times a second for SECONDS, in
10 ms ticks, then its exact count in DIR/count. argv: DIR SECONDS RATE."""
import os
import sys
import time


def leaf(x):
    return x + 1


def tick(n):
    s = 0
    for _ in range(n):
        s = leaf(s)
    return s


def main(folder, seconds, rate):
    print("ready", flush=True)
    per_tick, calls = rate // 100, 0
    start = time.monotonic()
    t = start
    while t - start < seconds:
        calls += tick(per_tick)
        t += 0.01
        time.sleep(max(t - time.monotonic(), 0))
    with open(os.path.join(folder, "count"), "w") as fh:
        fh.write(str(calls))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
