"""Starts and ends 20 threads one after another, each calling work() 10 times."""
import threading


def work():
    return 1


def body():
    for _ in range(10):
        work()


for i in range(20):
    t = threading.Thread(target=body, name=f"churn-{i}")
    t.start()
    t.join()
