"""scope diff: per-function changes with a Mann-Whitney U significance test."""
import numpy as np
import pytest

from scope import kinds
from scope.store.diff import diff, mann_whitney_p
from scope.store.reader import open_recording

from .recording import START, write_recording

F, G = 1, 2
CODE = {F: ("f", "/app/f.py"), G: ("g", "/app/g.py")}


def recording(folder, f_ns: int):
    ev, t = [], START + 100
    for i in range(20):
        for code, d in ((F, f_ns + i % 7), (G, 300 + i % 5)):
            ev += [(t, 1, kinds.CALL, code), (t + d, 1, kinds.RETURN, code)]
            t += d + 10
    return open_recording(write_recording(folder, ev, CODE))


def test_mann_whitney_against_hand_computed_values():
    # U = 0 for fully separated samples of 5: z = (12.5 - 0.5) / sqrt(25 * 11 / 12), p = erfc(z / sqrt 2)
    assert mann_whitney_p(np.arange(1, 6), np.arange(6, 11)) == pytest.approx(0.01218, abs=1e-4)
    assert mann_whitney_p(np.arange(10), np.arange(10)) == pytest.approx(1.0, abs=0.05)


def test_the_slower_function_is_significant_and_the_other_not(tmp_path):
    rows = {r["function"]: r for r in diff(recording(tmp_path / "a", 100),
                                           recording(tmp_path / "b", 200)).to_pylist()}
    f, g = rows["f"], rows["g"]
    assert f["calls_a"] == f["calls_b"] == 20
    assert f["total_change_ns"] == 20 * 100 and f["median_b_ns"] - f["median_a_ns"] == 100
    assert f["significant"] and f["p_value"] < 1e-6
    assert g["total_change_ns"] == 0 and not g["significant"]
