"""Known system calls under known functions (see tests/integration/test_syscalls.py).

reader() reads 5 bytes from a pipe 40 times; sleeper() sleeps 50 ms 3 times."""
import os
import time


def reader(fd):
    return os.read(fd, 5)


def sleeper():
    time.sleep(0.05)


r, w = os.pipe()
os.write(w, b"x" * 200)
for _ in range(40):
    reader(r)
for _ in range(3):
    sleeper()
