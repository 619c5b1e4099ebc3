"""A known workload for the container tests, run attached or not.

Prints "ready", waits for a line on stdin, then: work() in the main thread
(fib(0)..fib(11)) and in_thread() in a second thread (fib(0)..fib(9)), prints
the results and each thread's id as the process sees it, prints "done"; the
second thread lives until a second line (or EOF) on stdin, then both exit.
Ground truth: fib_calls() in tests/integration/test_container.py.
"""
import sys
import threading


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def work():
    return [fib(i) for i in range(12)]


def in_thread(out, finish):
    out.append(threading.get_native_id())
    out.append(sum([fib(i) for i in range(10)]))   # no generator: see test_container.py
    finish.wait()


def main():
    print("ready", flush=True)
    sys.stdin.readline()
    print("main", threading.get_native_id(), work(), flush=True)
    out, finish = [], threading.Event()
    t = threading.Thread(target=in_thread, args=(out, finish))
    t.start()
    while len(out) < 2:
        threading.Event().wait(0.001)
    print("thread", *out, flush=True)
    print("done", flush=True)
    sys.stdin.readline()
    finish.set()
    t.join()


main()
