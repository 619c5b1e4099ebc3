"""Three asyncio tasks interleaving on one event loop (tests/integration/test_asyncio.py).

Task i runs worker(i): five rounds of step(i) then `await asyncio.sleep(0.01)`,
inside a scope_shim span "job" when the shim is importable."""
import asyncio

try:
    import scope_shim
except ImportError:
    scope_shim = None


def step(i):
    return i * 2


async def worker(i):
    for _ in range(5):
        step(i)
        await asyncio.sleep(0.01)


async def job(i):
    if scope_shim is None:
        return await worker(i)
    with scope_shim.span("job", n=i):
        return await worker(i)


async def amain():
    await asyncio.gather(*(job(i) for i in range(3)))


asyncio.run(amain())
