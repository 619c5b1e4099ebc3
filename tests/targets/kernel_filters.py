"""For the in-kernel filters (tests/integration/test_kernel_filters.py), behind a handshake:
kernel_filters.py READY_FIFO GO_FIFO. After "go": the main thread calls main_work
100 times while a second thread calls thread_work 200 times; then _helper once,
a 0.3 s pause (scope learns the name), and _helper 10,000 times more."""
import sys
import threading
import time


def main_work(x):
    return x + 1


def thread_work(x):
    return x * 2


def _helper(x):
    return x


def worker():
    for i in range(200):
        thread_work(i)


ready_path, go_path = sys.argv[1], sys.argv[2]
with open(ready_path, "w") as ready:
    ready.write("ready\n")
    ready.flush()
    with open(go_path) as go:
        go.readline()
    t = threading.Thread(target=worker)
    t.start()
    for i in range(100):
        main_work(i)
    t.join()
    _helper(0)
    time.sleep(0.3)
    for i in range(10_000):
        _helper(i)
    ready.write("done\n")
    ready.flush()
    with open(go_path) as go:
        go.readline()
