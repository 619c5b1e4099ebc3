"""Emits audit events on request, and nothing else meanwhile.

Prints "ready"; then for each line "N DISTINCT" on stdin calls sys.audit N
times with names cycling over DISTINCT names (app.evt.0, app.evt.1, ...) and
prints "done". sys.audit is a builtin: no Python call is made per event.
"""
import sys


def main():
    names = []
    print("ready", flush=True)
    for line in sys.stdin:
        n, distinct = map(int, line.split())
        while len(names) < distinct:
            names.append(f"app.evt.{len(names)}")
        for i in range(n):
            sys.audit(names[i % distinct])
        print("done", flush=True)


main()
