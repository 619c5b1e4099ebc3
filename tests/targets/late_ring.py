"""A subprocess that ends before the collector could map its ring.

Usage: late_ring.py DIR. The parent calls `parent_leaf` 50 times, then starts
`python -c SUB`; in the forked child, before the exec, it writes DIR/forked and
waits for DIR/go — the test stops the collector in between. The subprocess
calls `sub_leaf` exactly 777 times, writes DIR/sub-done and ends; the parent
then writes DIR/returned.
"""
import subprocess
import sys
import time
from pathlib import Path

DIR = Path(sys.argv[1])
SUB = ("def sub_leaf(x):\n    return x\nfor i in range(777):\n    sub_leaf(i)\n"
       f"open({str(DIR / 'sub-done')!r}, 'w').close()\n")


def parent_leaf(x):
    return x * 2


def hold_before_exec():
    (DIR / "forked").touch()
    while not (DIR / "go").exists():
        time.sleep(0.01)


def main():
    for i in range(50):
        parent_leaf(i)
    subprocess.run([sys.executable, "-c", SUB], check=True, preexec_fn=hold_before_exec)
    (DIR / "returned").touch()


if __name__ == "__main__":
    main()
