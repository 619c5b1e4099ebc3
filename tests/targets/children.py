"""Child processes with known call counts: fork and spawn workers, and a subprocess.

Worker i calls `child_leaf` exactly 1000 + i times; the subprocess calls
`sub_leaf` exactly 777 times; the parent calls `parent_leaf` exactly 50 times.
Usage: children.py [fork|spawn] [workers]
"""
import multiprocessing as mp
import subprocess
import sys


def child_leaf(x):
    return x + 1


def worker(i):
    s = 0
    for _ in range(1000 + i):
        s = child_leaf(s)
    return s


def parent_leaf(x):
    return x * 2


SUB = "def sub_leaf(x):\n    return x\nfor i in range(777):\n    sub_leaf(i)\n"


def main():
    method = sys.argv[1] if len(sys.argv) > 1 else "fork"
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    for i in range(50):
        parent_leaf(i)
    ctx = mp.get_context(method)
    procs = [ctx.Process(target=worker, args=(i,)) for i in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    subprocess.run([sys.executable, "-c", SUB], check=True)
    print("children done", [p.exitcode for p in procs])


if __name__ == "__main__":
    main()
