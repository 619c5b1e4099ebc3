"""Call-heavy workload: times its own hot loop and prints {"seconds": …, "calls": …}."""
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
    main(int(sys.argv[1]))
