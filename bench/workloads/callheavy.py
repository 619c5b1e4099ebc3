"""Call-heavy workload: times its own hot loop and prints {"seconds": …, "calls": …}.

callheavy.py ROUNDS [GO_FILE]: with GO_FILE, writes GO_FILE.ready and waits for
GO_FILE to exist before the hot loop (for tracers that attach to a running process)."""
import json
import sys
import time


def leaf(x):
    return x + 1


def branch(n):
    s = 0
    for i in range(n):
        s = leaf(s)
    return s


def main(rounds):
    t0 = time.perf_counter()
    for _ in range(rounds):
        branch(100)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "calls": rounds * 101}))


if __name__ == "__main__":
    if len(sys.argv) > 2:
        import os
        open(sys.argv[2] + ".ready", "w").close()
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.01)
    main(int(sys.argv[1]))
