"""Generators, a coroutine and exceptions, for CPython's own call markers
(3.15: an entry when a generator function's frame only creates its
generator, and no return after it). Ground truth: test_container.py's
test_generators_through_the_markers_of_3_15.
"""


def numbers(n):
    for i in range(n):   # noqa: UP028 -- one YIELD_VALUE per item, in this frame
        yield i


def other():
    return 1


def late(n):
    gen = numbers(n)             # created here...
    other()                      # ...a call before its first resume: not inside it
    return sum(gen)


def eager(n):
    return sum(numbers(n))


def boom(i):
    raise ValueError(i)


def catcher(n):
    caught = 0
    for i in range(n):   # noqa: UP028 -- one YIELD_VALUE per item, in this frame
        try:
            boom(i)
        except ValueError:
            caught += 1
    return caught


async def coro():
    return 1


def run_coro():
    c = coro()
    try:
        c.send(None)
    except StopIteration as stop:
        return stop.value


def main():
    print([late(10) for _ in range(5)], [eager(4) for _ in range(7)], catcher(30),
          [run_coro() for _ in range(3)])


main()
