"""Forks CHILDREN processes (each calls leaf() CALLS times and exits) and then
starts THREADS threads one batch at a time (each calls leaf() CALLS times).
argv: CHILDREN THREADS CALLS. Ground truth for tests/integration/test_faults.py."""
import os
import sys
import threading


def leaf(x):
    return x + 1


def work(n):
    s = 0
    for _ in range(n):
        s = leaf(s)
    return s


def main(children, threads, calls):
    pids = []
    for _ in range(children):
        pid = os.fork()
        if pid == 0:
            work(calls)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    for batch in range(0, threads, 20):
        ts = [threading.Thread(target=work, args=(calls,)) for _ in range(min(20, threads - batch))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
