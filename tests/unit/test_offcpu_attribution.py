import numpy as np

from scope.collector.offcpu import attribute


def cols(rows):
    """rows: (call_id, parent_id, tid, start, end)"""
    a = np.array(rows, dtype=np.int64)
    return {"call_id": a[:, 0], "parent_id": a[:, 1], "pid": np.ones(len(a), np.int64),
            "tid": a[:, 2], "start_ns": a[:, 3], "end_ns": a[:, 4]}


def test_innermost_running_call_even_after_siblings_ended():
    c = cols([(1, -1, 7, 0, 1000),       # main
              (2, 1, 7, 10, 100),        # start(): returned before the wait
              (3, 1, 7, 200, 900),       # locker(): running during the wait
              (4, 3, 7, 210, 220),       # a child of locker that returned
              (5, -1, 8, 0, -1)])        # another thread, never returned
    got = attribute(c, [(1, 7, 300, 50, "lock", 202, -1), (1, 7, 150, 5, "lock", 202, -1),
                        (1, 8, 40, 5, "sleep", 230, -1), (1, 7, 2000, 5, "io", 0, -1)])
    assert [g[-1] for g in got] == [3, 1, 5, -1]
