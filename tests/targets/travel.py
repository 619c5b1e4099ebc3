"""Known stacks at a known moment (tests/integration/test_travel.py): main -> outer ->
inner sleeps 0.3 s with state "phase" = {"step": 1}; a worker thread waits in wait_here()."""
import threading
import time

import scope_shim

started = threading.Event()


def wait_here():
    started.set()
    time.sleep(0.6)


def inner():
    scope_shim.state("phase", {"step": 1})
    time.sleep(0.3)
    scope_shim.state("phase", {"step": 2})


def outer():
    inner()


def main():
    t = threading.Thread(target=wait_here, name="worker")
    t.start()
    started.wait()
    outer()
    t.join()


main()
