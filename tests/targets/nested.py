"""Nested calls on request, and nothing else meanwhile.

Prints "ready"; for each line "M K" on stdin calls outer(K) M times, each
outer() calling inner() K times, then prints "done". Between two lines the
program makes exactly M * (K + 1) calls. With the argument "profiled" a C
profiler (cProfile) runs throughout: CPython 3.11's function__entry marker fires
only while one is set, so entries and returns both reach scope's uprobes.
"""
import cProfile
import sys


def inner(x):
    return x


def outer(k):
    for i in range(k):
        inner(i)


def main():
    if sys.argv[1:] == ["profiled"]:
        cProfile.Profile().enable()
    print("ready", flush=True)
    for line in sys.stdin:
        m, k = map(int, line.split())
        for _ in range(m):
            outer(k)
        print("done", flush=True)


main()
