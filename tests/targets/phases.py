"""Idles in its main thread until DIR/go exists, then runs a known phase once.

argv: DIR PHASE_CALLS. Prints "ready"; after the phase writes DIR/done; each
time DIR/report exists, writes the shim's switch state to DIR/report.json. The
phase: outer() is called once and calls inner() PHASE_CALLS times, and a
generator is consumed in a thread started during the phase.
"""
import json
import os
import sys
import threading
import time


def inner(i):
    return i * 2


def outer(n):
    return sum(inner(i) for i in range(n))   # the genexpr calls inner()


def squares(n):
    for i in range(n):
        yield i * i


def in_thread():
    return sum(squares(100))


def phase(n):
    outer(n)
    t = threading.Thread(target=in_thread)
    t.start()
    t.join()


def idle():
    time.sleep(0.002)


def main(folder, n):
    print("ready", flush=True)
    while not os.path.exists(os.path.join(folder, "go")):
        idle()
    phase(n)
    open(os.path.join(folder, "done"), "w").close()
    while True:
        idle()
        if os.path.exists(os.path.join(folder, "report")):
            report(folder)


def report(folder):
    """Answer DIR/report: the switch's state to DIR/report.json (written whole,
    then renamed), and DIR/report removed, so it can be asked again."""
    shim = sys.modules.get("scope_shim")
    tmp = os.path.join(folder, ".report.json")
    with open(tmp, "w") as fh:
        json.dump({"switch_on": shim.SWITCH.on if shim else None,
                   "thread_hook": repr(getattr(threading, "_profile_hook", None))}, fh)
    os.remove(os.path.join(folder, "report"))
    os.rename(tmp, os.path.join(folder, "report.json"))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
