"""Messages across processes: the parent sends 5 jobs to a forked worker through a
multiprocessing queue, marking each with scope_shim.send/recv (tests/integration/test_follow.py)."""
import multiprocessing as mp

import scope_shim


def worker(q):
    for _ in range(5):
        job = q.get()
        scope_shim.recv("jobs", job)


if __name__ == "__main__":
    q = mp.get_context("fork").Queue()
    p = mp.get_context("fork").Process(target=worker, args=(q,))
    p.start()
    for i in range(5):
        scope_shim.send("jobs", f"job-{i}")
        q.put(f"job-{i}")
    p.join()
