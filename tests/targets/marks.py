"""Application marks on request (with scope_shim preloaded).

Prints "ready"; for each line "N" on stdin emits N marks named "m" (field i:
0..N-1) and prints "done".
"""
import sys

import scope_shim


def main():
    print("ready", flush=True)
    for line in sys.stdin:
        for i in range(int(line)):
            scope_shim.mark("m", i=i)
        print("done", flush=True)


main()
