"""Prints one line per 20 ms window: "<monotonic_ns> <calls in the window>", forever."""
import sys
import time

import scope_shim  # noqa: F401  (the switch turns call capture on while scope is attached)


def leaf(x):
    return x + 1


def main():
    out = sys.stdout
    while True:
        start = time.monotonic_ns()
        end = start + 20_000_000
        n = 0
        while time.monotonic_ns() < end:
            for _ in range(100):
                leaf(n)
            n += 100
        out.write(f"{start} {n}\n")
        out.flush()


if __name__ == "__main__":
    main()
