"""Calls open at the end whose process exited or exec'd end with it (status ended)."""
import numpy as np

from scope import kinds
from scope.collector.follow import end_with_their_process


def test_open_calls_end_at_their_process_first_end_after_their_start():
    cols = {"pid": np.array([1, 1, 1, 2, 1, 3]),
            "start_ns": np.array([10, 60, 20, 10, -1, 10]),
            "end_ns": np.array([-1, -1, 30, -1, -1, -1]),
            "duration_ns": np.array([-1, -1, 10, -1, -1, -1]),
            "status": [kinds.OPEN, kinds.OPEN, kinds.COMPLETE, kinds.OPEN, kinds.OPEN, kinds.OPEN]}
    # pid 1 exec'd at 50 (its first program's frames gone) and exited at 100; pid 2 never
    # ended; pid 3's call started after its only end; the row without a start stays as it is
    assert end_with_their_process(cols, {1: [100, 50], 3: [5]}) == 2
    assert cols["status"] == [kinds.ENDED, kinds.ENDED, kinds.COMPLETE, kinds.OPEN, kinds.OPEN, kinds.OPEN]
    assert cols["end_ns"].tolist() == [50, 100, 30, -1, -1, -1]
    assert cols["duration_ns"].tolist() == [40, 40, 10, -1, -1, -1]


def test_nothing_ended_leaves_the_columns_alone():
    cols = {"pid": np.array([1]), "start_ns": np.array([5]), "end_ns": np.array([-1]),
            "duration_ns": np.array([-1]), "status": [kinds.OPEN]}
    assert end_with_their_process(cols, {}) == 0
    assert cols["status"] == [kinds.OPEN]
