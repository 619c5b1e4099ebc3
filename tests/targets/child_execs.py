"""Followed children that become other programs.

The parent calls parent_leaf() 50 times, forks a child that calls child_leaf()
123 times inside before_exec() and then execs `sh -c 'exit 5'`; then runs
/bin/true through subprocess (a fork and an exec in C, no Python in between);
then calls parent_leaf() 50 more times and prints "done 5".
"""
import os
import subprocess


def parent_leaf(x):
    return x


def child_leaf(x):
    return x


def before_exec():
    for i in range(123):
        child_leaf(i)
    os.execv("/bin/sh", ["sh", "-c", "exit 5"])


def main():
    for i in range(50):
        parent_leaf(i)
    pid = os.fork()
    if pid == 0:
        before_exec()
    _, status = os.waitpid(pid, 0)
    subprocess.run(["/bin/true"], check=True)
    for i in range(50):
        parent_leaf(i)
    print("done", os.waitstatus_to_exitcode(status), flush=True)


main()
