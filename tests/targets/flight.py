"""A flight recorder's target (tests/integration/test_flight.py). argv: DIR MODE.

Prints "ready" and idles until DIR/go exists, then calls step() every 5 ms,
STEPS times, writing the monotonic time of every step (the probes' clock) to
DIR/steps.json at the end. At step FIRE it does what MODE says: "exception"
(explode() raises ValueError, caught by step), "audit" (sys.audit of a custom
event), "slow" (one 80 ms step), "none" (nothing).
"""
import json
import os
import sys
import time

STEPS, FIRE = 400, 200


def explode():
    raise ValueError("boom")


def step(i, mode):
    if i == FIRE:
        if mode == "exception":
            try:
                explode()
            except ValueError:
                pass
        elif mode == "audit":
            sys.audit("scope.test.alarm", i)
        elif mode == "slow":
            time.sleep(0.08)
    return i


def idle():
    time.sleep(0.002)


def main(folder, mode):
    print("ready", flush=True)
    while not os.path.exists(os.path.join(folder, "go")):
        idle()
    times = []
    for i in range(STEPS):
        times.append(time.monotonic_ns())
        step(i, mode)
        time.sleep(0.005)
    with open(os.path.join(folder, "steps.json"), "w") as fh:
        json.dump(times, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
