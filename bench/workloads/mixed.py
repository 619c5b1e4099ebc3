"""A call-heavy program of the kinds issue 15 was measured on: recursive fib,
json round trips, small methods. Prints {"seconds": hot loop, "end_ns":
CLOCK_MONOTONIC at its end} (a tracer's time to a complete recording is
measured from there to its own exit).

mixed.py SCALE [--count]: with --count, counts the Python calls it makes
(sys.setprofile) instead, for the ground truth."""
import json
import sys
import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def norm2(self):
        return self.x * self.x + self.y * self.y

    def moved(self, dx):
        return Point(self.x + dx, self.y)


def roundtrip(i):
    return json.loads(json.dumps({"i": i, "items": [i, i + 1, str(i)]}))


def main(scale):
    total = 0
    for _ in range(scale):
        total += fib(20)
        for i in range(300):
            total += roundtrip(i)["i"]
        p = Point(1, 2)
        for i in range(3000):
            p = p.moved(1)
            total += p.norm2()
    return total


if __name__ == "__main__":
    scale = int(sys.argv[1])
    if "--count" in sys.argv:
        calls = 0

        def count(frame, event, arg):
            global calls
            calls += event == "call"
        sys.setprofile(count)
        main(scale)
        sys.setprofile(None)
        print(json.dumps({"calls": calls}))
    else:
        t0 = time.perf_counter()
        main(scale)
        seconds = time.perf_counter() - t0
        print(json.dumps({"seconds": seconds, "end_ns": time.monotonic_ns()}), flush=True)
