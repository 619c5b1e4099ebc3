"""A program that meets Ctrl-C, in one of two ways (argv[1]).

"exit": runs phase() 300 times, prints "ready", then waits; Ctrl-C (a
KeyboardInterrupt) runs cleanup() 40 times, prints "interrupted", exits 3.
"stay": handles SIGINT itself (counts it, prints "got SIGINT"), prints "ready"
and runs on, calling tick() every 10 ms, until DIR/stop exists (argv[2]).
"""
import os
import signal
import sys
import time


def phase(i):
    return i + 1


def cleanup(i):
    return i


def tick():
    time.sleep(0.01)


def main(mode):
    if mode == "exit":
        for i in range(300):
            phase(i)
        try:                 # ready only where Ctrl-C is handled
            print("ready", flush=True)
            while True:
                time.sleep(0.05)
        except KeyboardInterrupt:
            for i in range(40):
                cleanup(i)
            print("interrupted", flush=True)
            sys.exit(3)
    signal.signal(signal.SIGINT, lambda *_: print("got SIGINT", flush=True))
    print("ready", flush=True)
    while not os.path.exists(os.path.join(sys.argv[2], "stop")):
        tick()


main(sys.argv[1])
