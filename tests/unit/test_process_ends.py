"""Calls open at the end whose process exited or exec'd end with it (status ended);
each program a process runs (exec) has code ids of its own."""
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


def test_each_program_of_a_process_gets_an_id_space_of_its_own():
    from scope.collector.images import (
        IMAGE,
        MAX_IMAGES,
        SHIM_BASE,
        Images,
        shift_records,
    )
    from scope.probes.layout import record_dtype
    images = Images()
    assert images.shift(7, 0xAAAA) == 0 and images.shift(7, 0xBBBB) == IMAGE
    assert images.shift(7, 0xAAAA) == 0 and images.shift(8, 0xBBBB) == 0     # per process
    rows = [{"kind": "code", "pid": 7, "image": 0xBBBB, "code_id": SHIM_BASE + 5},
            {"kind": "code", "pid": 7, "image": 0xAAAA, "code_id": SHIM_BASE + 5},
            {"kind": "name", "pid": 7, "image": 0, "code_id": 300}]          # kernel-side ids stay
    kept = images.shift_names(rows)
    assert [r["code_id"] for r in kept] == [SHIM_BASE + IMAGE + 5, SHIM_BASE + 5, 300]
    assert images.names_left_out == 0
    for token in range(2, MAX_IMAGES):
        images.shift(7, token)
    assert images.shift(7, 10**6) is None                # past the space: counted, not mixed up
    assert images.shift_names([{"kind": "code", "pid": 7, "image": 10**6, "code_id": SHIM_BASE}]) == []
    assert images.names_left_out == 1
    recs = np.zeros(3, record_dtype("scope_event"))
    recs["kind"] = [kinds.CALL, kinds.RETURN, kinds.RETURN]
    recs["code"] = [SHIM_BASE + 1, SHIM_BASE + 1, SHIM_BASE + 2]
    recs["flags"] = [0, 0, kinds.F_RAISED]
    recs["line"] = [10, 11, np.array(SHIM_BASE + 9, np.uint32).view(np.int32)]
    shift_records(recs, IMAGE)
    assert recs["code"].tolist() == [SHIM_BASE + IMAGE + 1, SHIM_BASE + IMAGE + 1, SHIM_BASE + IMAGE + 2]
    assert recs["line"][:2].tolist() == [10, 11]                           # line numbers stay
    assert int(recs["line"][2:].view(np.uint32)[0]) == SHIM_BASE + IMAGE + 9   # the exception's id moves


def test_the_id_spaces_never_overlap():
    """Kernel ids, the ids the collector gives same-named functions, each
    program's shim ids, app-event names: one header defines them, and they are
    disjoint — a process's 17th program got app-event names' ids before."""
    from scope.collector.identity import SPLIT_BASE
    from scope.collector.images import (
        APP_NAME_BASE,
        IMAGE,
        MAX_IMAGES,
        SHIM_BASE,
        Images,
    )
    from scope.probes.program import ProgramConfig
    kernel_max = (ProgramConfig().codes_max + ProgramConfig().texts_max) << 8 | 0xFF   # (n << 8) | cpu
    assert kernel_max < SPLIT_BASE < SHIM_BASE
    assert SHIM_BASE + MAX_IMAGES * IMAGE <= APP_NAME_BASE < 2**32
    images = Images()
    shifts = [images.shift(9, token) for token in range(MAX_IMAGES + 1)]
    assert max(s for s in shifts if s is not None) + SHIM_BASE + IMAGE - 1 < APP_NAME_BASE
    assert shifts[-1] is None and MAX_IMAGES == 16
