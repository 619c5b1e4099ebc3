"""Loops over a few calls; exits after argv[1] seconds (default: never)."""
import sys
import time


def work(n):
    return sum(step(i) for i in range(n))


def step(i):
    return i % 7


def main(seconds):
    end = time.monotonic() + seconds
    print("ready", flush=True)
    while time.monotonic() < end:
        work(100)
        time.sleep(0.001)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else float("inf"))
