"""Known call counts with generators, coroutines, exceptions and late threads (see test_shim.py)."""
import asyncio
import sys
import threading


def leaf(x):
    return x + 1


def gen(n):
    for i in range(n):
        yield leaf(i)


def consume():
    return sum(gen(10))


def boom():
    raise ValueError("expected")


def guarded():
    try:
        boom()
    except ValueError:
        return 0


async def sub(i):
    await asyncio.sleep(0)
    return i


async def amain():
    total = 0
    for i in range(5):
        total += await sub(i)
    return total


def worker():
    for _ in range(100):
        consume()


def main():
    for _ in range(50):
        consume()
    for _ in range(30):
        guarded()
    asyncio.run(amain())
    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
