"""For --max-overhead. `busy`: main() runs a call-heavy phase (2 s: busy() calls
leaf() in a tight loop), then a quiet one (2 s: quiet() sleeps between rare
calls). `quiet`: the quiet phase alone. `across`: under a C profiler (so that
CPython 3.11's entry marker fires), phase() runs quiet (0.5 s), busy (1 s),
quiet (6 s: long enough for capture to be back on when it returns, even on a
loaded machine): entered and returned while capture is on, paused in between."""
import cProfile
import sys
import time


def leaf(x):
    return x + 1


def busy(seconds):
    end = time.monotonic() + seconds
    s = 0
    while time.monotonic() < end:
        for _ in range(1000):
            s = leaf(s)
    return s


def quiet(n):
    for _ in range(n):
        time.sleep(0.05)
        leaf(0)


def phase():
    quiet(10)
    busy(1.0)
    quiet(120)


def main(mode):
    if mode == "across":
        cProfile.Profile().enable()
        phase()
    elif mode == "busy":
        busy(2.0)
        quiet(40)
    else:
        quiet(20)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "busy")
