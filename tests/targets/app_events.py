"""Uses every shim API once or a few times, in a known order (see test_shim.py)."""
import asyncio
import threading

import scope_shim as scope

scope.mark("start", step=1)
with scope.span("outer", a=1):
    with scope.span("inner"):
        scope.state("config", {"user": "ann", "password": "hunter2", "nested": {"api_key": "k-123"}})
    scope.send("jobs", 42)


def worker():
    scope.recv("jobs", 42)
    with scope.span("in-thread"):
        pass


t = threading.Thread(target=worker, name="worker")
t.start()
t.join()

scope.state("big", "x" * 10_000_000)


@scope.span("decorated")
def decorated():
    return 1


decorated()


async def task(n):
    async with scope.span("task", n=n):
        await asyncio.sleep(0.01)
        with scope.span("task-inner", n=n):
            await asyncio.sleep(0.01)


async def main():
    await asyncio.gather(task(1), task(2))


asyncio.run(main())
scope.mark("end")
