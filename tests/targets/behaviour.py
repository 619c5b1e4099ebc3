"""Prints results, generator values, exception messages and exits 7: a program
whose output must be byte-identical with and without scope."""
import sys


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def evens(n):
    for i in range(n):
        if i % 2 == 0:
            yield i


def fails(x):
    return {"a": 1}[x]


print("fib", [fib(i) for i in range(15)])
print("evens", list(evens(20)))
try:
    fails("missing")
except KeyError as exc:
    print("caught", repr(exc))
print("profile hook", sys.getprofile())
print("to stderr", fib(10), file=sys.stderr)
import warnings  # noqa: E402
warnings.warn("a warning, on stderr")
sys.exit(7)
