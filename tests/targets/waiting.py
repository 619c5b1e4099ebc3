"""Handshake target: announce readiness on a fifo, wait for "go", run a known phase.

argv: READY_FIFO GO_FIFO PHASE_CALLS [exit]
Writes "ready" once started, reads a line from GO_FIFO, calls phase() exactly
PHASE_CALLS times, writes "done", then idles (calling idle() every 10 ms) until
killed — or, with "exit", exits.
"""
import sys
import time


def phase(x):
    return x * 2


def idle():
    return time.sleep(0.01)


def main(ready_path, go_path, n):
    with open(ready_path, "w") as ready:
        ready.write("ready\n")
        ready.flush()
        with open(go_path) as go:
            go.readline()
        for i in range(n):
            phase(i)
        ready.write("done\n")
        ready.flush()
    while sys.argv[4:] != ["exit"]:
        idle()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
