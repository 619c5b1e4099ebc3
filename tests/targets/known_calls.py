"""A workload whose call counts are known exactly (see tests/integration/test_run.py)."""
import sys
import threading


def leaf(x):
    return x + 1


def middle(n):
    s = 0
    for _ in range(n):
        s = leaf(s)
    return s


def recurse(depth):
    return 0 if depth == 0 else 1 + recurse(depth - 1)


def fails():
    raise KeyError("expected")


def catches():
    try:
        fails()
    except KeyError:
        return 1


class Box:
    def method(self):
        return leaf(1)


def thread_work():
    for _ in range(250):
        middle(2)


def main():
    for _ in range(12_345):
        leaf(0)
    middle(1000)
    recurse(300)
    for _ in range(77):
        catches()
    box = Box()
    for _ in range(500):
        box.method()
    threads = [threading.Thread(target=thread_work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 3


if __name__ == "__main__":
    sys.exit(main())
