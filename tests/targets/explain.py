"""Programs with exactly one planted problem each, and their clean twins of the
same shape, for `scope explain`'s detectors (tests/integration/test_explain.py).

    python explain.py PROBLEM planted|clean

Each problem's two versions do the same work; only the planted one has the
problem. What the test knows exactly is written here: the functions' names,
the counts, the sleeps.
"""
import gc
import os
import sys
import threading
import time

# (asyncio is imported where it is used, and tempfile not at all: a start-up of
# a few small modules keeps the import-cost twins' start-up short on a loaded
# machine, and no import but the planted one runs inside a call)


def work(n=300):
    """A few microseconds of CPU, the same in every version."""
    return sum(range(n))


# repeated work: 20 handler calls; planted, each makes 300 fetch_one calls, clean
# one fetch_many call doing the same work for all 300
def fetch_one(i):
    return sum(range(2000)) + i


def fetch_many(ids):
    return [sum(range(2000)) + i for i in ids]


def handler_planted():
    return [fetch_one(i) for i in range(300)]


def handler_clean():
    return fetch_many(range(300))


def repeated(mode):
    handler = handler_planted if mode == "planted" else handler_clean
    for _ in range(20):
        handler()


# exceptions as control flow: 3000 lookups, two in three missing
CACHE = {i: i for i in range(0, 3000, 3)}


def lookup_planted(k):
    if k not in CACHE:
        raise KeyError(k)
    return CACHE[k]


def lookup_clean(k):
    if k not in CACHE:
        return None
    return CACHE[k]


def get(k, mode):
    if mode == "planted":
        try:
            return lookup_planted(k)
        except KeyError:
            return -1
    found = lookup_clean(k)
    return -1 if found is None else found


def exceptions(mode):
    for k in range(3000):
        get(k, mode)
        work(50)


# a rare slow path: 1000 handle calls; planted, every 100th waits 50 ms in slow_io
def slow_io():
    time.sleep(0.05)


def handle(i, mode):
    work(1000)
    if mode == "planted" and i % 100 == 99:
        slow_io()


def slow_path(mode):
    for i in range(1000):
        handle(i, mode)
    if mode == "clean":          # the same wall time, spent outside any handle call
        time.sleep(0.5)


# GC pressure: a large structure built with the collector running (planted) or
# paused while it is built (clean: the usual fix)
def build_index():
    return [{"id": i, "tags": [i, i + 1]} for i in range(400_000)]


def gc_pressure(mode):
    if mode == "clean":
        gc.disable()
    index = build_index()
    gc.enable()
    return len(index)


# import cost: a module that takes 0.3 s to import (planted) or no time (clean),
# imported inside a function call (in_call) or at top level (startup)
def _module(mode):
    folder = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"scope-explain-{os.getpid()}")
    os.makedirs(folder, mode=0o700)
    name = f"slowmod_{os.getpid()}"
    with open(os.path.join(folder, name + ".py"), "w") as fh:
        fh.write("import time\n" + ("time.sleep(0.3)\n" if mode == "planted" else "") + "VALUE = 1\n")
    sys.path.insert(0, folder)
    return name


def serve_first_request(name):
    __import__(name)
    return work()


def import_in_call(mode):
    name = _module(mode)
    for _ in range(3):
        serve_first_request(name)
    time.sleep(0.3 if mode == "clean" else 0)


def import_startup(mode):
    """(its import runs at top level, below)"""
    time.sleep(0.3 if mode == "clean" else 0)
    work()


# lock contention (--offcpu): 4 threads, each 8 times holding a lock for 20 ms;
# planted one lock for all, clean one lock each
def critical(lock):
    with lock:
        time.sleep(0.02)


def worker(lock):
    for _ in range(8):
        critical(lock)


def locks(mode):
    shared = threading.Lock()
    threads = [threading.Thread(target=worker, args=(shared if mode == "planted" else threading.Lock(),))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# hot spots: planted, crunch does most of the CPU work; clean, 20 functions share it
def crunch():
    return sum(range(20_000_000))


def hot(mode):
    if mode == "planted":
        crunch()
    else:
        for i in range(20):
            globals()[f"share_{i}"]()


for _i in range(20):
    exec(f"def share_{_i}():\n    return sum(range(1_000_000))\n")


# serialized awaits: 5 requests, each needing three independent fetches of
# 50 ms; planted, awaited one after another, clean, gathered
async def fetch(i):
    import asyncio
    await asyncio.sleep(0.05)
    return i


async def request_planted():
    return [await fetch(1), await fetch(2), await fetch(3)]


async def request_clean():
    import asyncio
    return await asyncio.gather(fetch(1), fetch(2), fetch(3))


def awaits(mode):
    import asyncio

    async def main():
        for _ in range(5):
            await (request_planted() if mode == "planted" else request_clean())
    asyncio.run(main())
    if mode == "clean":                 # the same wall time
        time.sleep(0.5)


# --llm: the repeated-work problem, in a program whose app events carry secrets
# a narrative's prompt must never hold
def secrets(mode):
    import scope_shim
    scope_shim.state("config", {"user": "ann-STATE-789", "region": "eu-STATE-321"})
    scope_shim.mark("request", body="PAYLOAD-SECRET-456")
    repeated(mode)


PROBLEMS = {"repeated": repeated, "exceptions": exceptions, "slow_path": slow_path, "gc": gc_pressure,
            "import_in_call": import_in_call, "import_startup": import_startup, "locks": locks, "hot": hot,
            "awaits": awaits, "secrets": secrets}

if __name__ == "__main__":
    if sys.argv[1] == "import_startup":
        __import__(_module(sys.argv[2]))       # at top level: start-up
    PROBLEMS[sys.argv[1]](sys.argv[2])
