"""outer() calls fast() 100 times and slow() (>= 5 ms) once; main calls outer() 4 times."""
import time


def fast(i):
    return i + 1


def slow():
    time.sleep(0.005)


def outer():
    for i in range(100):
        fast(i)
    slow()


def main():
    for _ in range(4):
        outer()


main()
