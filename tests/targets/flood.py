"""Floods calls on request, with nothing else running in Python meanwhile.

Reads one byte from stdin (a builtin: no Python call), calls flood(N), which
calls leaf() N times, writes "done" with os.write, and waits for the next byte.
So between two bytes the program emits exactly 2 * (N + 1) call/return events.
The byte "w" first waits until the shim's call capture is on (an attribute read
and time.sleep: no Python call either), so a test never guesses how long the
switch takes.
"""
import os
import sys
import time


def leaf(x):
    return x


def flood(n):
    for i in range(n):
        leaf(i)


def main(n):
    os.write(1, b"ready\n")
    while byte := os.read(0, 1):
        if byte == b"w":
            switch = sys.modules["scope_shim"].SWITCH
            while not switch.on:
                time.sleep(0.001)
        flood(n)
        os.write(1, b"done\n")


main(int(sys.argv[1]))
