"""Replaces itself with another program while recorded (see test_faults.py).

argv: other | self [wait]. Calls leaf() 1,234 times inside before_exec(), then
exec()s: `other` a shell (sleep, echo), `self` this interpreter again running
this file as `again`, which calls leaf() 4,321 times and exits. With `wait` it
prints "ready" and waits for a line on stdin first (for an attach).
`chain N`: this file runs N + 1 times in one process (exec after exec), each
program calling leaf() 100 times.
"""
import os
import sys


def leaf(x):
    return x


def before_exec(mode):
    for i in range(1234):
        leaf(i)
    sys.stdout.flush()
    if mode == "other":
        os.execv("/bin/sh", ["sh", "-c", "sleep 0.3; echo shell-done"])
    os.execv(sys.executable, [sys.executable, __file__, "again"])


if sys.argv[1] == "chain":        # chain N: N more programs, each calling leaf() 100 times
    for i in range(100):
        leaf(i)
    left = int(sys.argv[2])
    sys.stdout.flush()
    if left:
        os.execv(sys.executable, [sys.executable, __file__, "chain", str(left - 1)])
    print("chain-done")
elif sys.argv[1] == "again":
    for i in range(4321):
        leaf(i)
    print("again-done")
else:
    if sys.argv[2:] == ["wait"]:
        print("ready", flush=True)
        sys.stdin.readline()
    before_exec(sys.argv[1])
