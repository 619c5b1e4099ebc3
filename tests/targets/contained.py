"""A known workload for the container tests, run attached or not.

Prints "ready", waits for a line on stdin (calling idle() every 10 ms: Python
runs, so a shim queued by remote execution loads while it waits), then: work() in the main thread
(fib(0)..fib(11)) and in_thread() in a second thread (fib(0)..fib(9)), prints
the results (and, on stderr, each thread's id as the process sees it), prints "done"; the
second thread lives until a second line (or EOF) on stdin, then both exit.
Ground truth: fib_calls() in tests/integration/test_container.py.
"""
import select
import sys
import threading


def idle():
    return select.select([sys.stdin], [], [], 0.01)[0]


def wait_line():
    while not idle():
        pass
    return sys.stdin.readline()


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
    wait_line()
    print("main", work(), flush=True)
    out, finish = [], threading.Event()
    t = threading.Thread(target=in_thread, args=(out, finish))
    t.start()
    while len(out) < 2:
        threading.Event().wait(0.001)
    print("thread", out[1], flush=True)
    # the threads' own ids on stderr: the shim's own thread shifts the second one
    print("ids", threading.get_native_id(), out[0], file=sys.stderr, flush=True)
    print("done", flush=True)
    wait_line()
    finish.set()
    t.join()


main()
