"""Floods calls on request, with nothing else running in Python meanwhile.

Reads one byte from stdin (a builtin: no Python call), calls flood(N), which
calls leaf() N times, writes "done" with os.write, and waits for the next byte.
So between two bytes the program emits exactly 2 * (N + 1) call/return events.
"""
import os
import sys


def leaf(x):
    return x


def flood(n):
    for i in range(n):
        leaf(i)


def main(n):
    os.write(1, b"ready\n")
    while os.read(0, 1):
        flood(n)
        os.write(1, b"done\n")


main(int(sys.argv[1]))
