"""Handshake target that exits after its phase.

argv: READY_FIFO GO_FIFO PHASE_CALLS
Writes "ready", reads a line from GO_FIFO, calls phase() exactly PHASE_CALLS
times, writes "done" and exits.
"""
import sys


def phase(x):
    return x * 2


def main(ready_path, go_path, n):
    with open(ready_path, "w") as ready:
        ready.write("ready\n")
        ready.flush()
        with open(go_path) as go:
            go.readline()
        for i in range(n):
            phase(i)
        ready.write("done\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
