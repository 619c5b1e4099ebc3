"""Recursion 5,000 deep, three times; then one RecursionError caught."""
import sys

sys.setrecursionlimit(20_000)


def down(n):
    return 0 if n == 0 else 1 + down(n - 1)


def runaway(n):
    return runaway(n + 1)


for _ in range(3):
    down(4999)
sys.setrecursionlimit(3000)
try:
    runaway(0)
except RecursionError:
    pass
