"""A target that churns code objects: every iteration compiles a new function
(with a long name) in a new file, calls it and drops it (its own memory stays
flat), and calls tick(). RATE iterations a second (paced, so that a collector
keeping up is what is measured, not one falling behind), for SECONDS; then it
writes how many times it called tick() to COUNT_FILE (the ground truth
tests/integration/test_trust_churn.py checks).

    code_churn.py SECONDS COUNT_FILE [RATE]
"""
import sys
import time

PAD = "_" * 100      # long names: what each costs scope to hold is what the test weighs
BATCH = 100


def tick():
    return 1


def main(seconds: float, count_file: str, rate: float) -> None:
    ns: dict = {}
    ticks = 0
    began = time.monotonic()
    end = began + seconds
    while time.monotonic() < end:
        for _ in range(BATCH):
            exec(compile(f"def f_{ticks}{PAD}(): return {ticks}", f"gen_{ticks}{PAD}.py", "exec"), ns)
            ns.pop(f"f_{ticks}{PAD}")()
            tick()
            ticks += 1
        ahead = began + ticks / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    with open(count_file, "w") as fh:
        fh.write(f"{ticks}\n")


if __name__ == "__main__":
    main(float(sys.argv[1]), sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else float("inf"))
