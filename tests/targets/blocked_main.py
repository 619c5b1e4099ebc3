"""Worker threads call work(); the main thread blocks in time.sleep or in join().

argv: sleep|join. Prints "ready" once the workers run.
"""
import sys
import threading
import time

stop = threading.Event()


def work(i):
    return i * 3


def worker():
    i = 0
    while not stop.is_set():
        work(i)
        i += 1
        if i % 1000 == 0:
            time.sleep(0.001)


threads = [threading.Thread(target=worker, daemon=True) for _ in range(2)]
for t in threads:
    t.start()
print("ready", flush=True)
if sys.argv[1] == "sleep":
    time.sleep(3600)
else:
    threads[0].join()
