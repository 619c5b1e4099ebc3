"""Known off-CPU time: sleeper() sleeps 0.2 s, locker() waits 0.3 s for a lock,
reader() waits 0.25 s for a pipe, waiter() 0.15 s in Event.wait (see test_offcpu.py)."""
import os
import threading
import time


def sleeper():
    time.sleep(0.2)


def locker(lock):
    lock.acquire()       # held by another thread for 0.3 s
    lock.release()


def reader(fd):
    return os.read(fd, 1)


def waiter():
    threading.Event().wait(0.15)       # the wait lands in threading's Condition.wait


def hold(lock, seconds):
    time.sleep(seconds)
    lock.release()


def write_later(fd, seconds):
    time.sleep(seconds)
    os.write(fd, b"x")


def main():
    sleeper()
    lock = threading.Lock()
    lock.acquire()
    threading.Thread(target=hold, args=(lock, 0.3)).start()
    locker(lock)
    r, w = os.pipe()
    threading.Thread(target=write_later, args=(w, 0.25)).start()
    reader(r)
    waiter()


main()
