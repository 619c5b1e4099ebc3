"""A program that breaks its own scope ring on purpose (issue 16), run under
`scope run`: the collector must refuse that ring alone and record the rest.

Modes: shrink (ftruncate the ring: the seals refuse it), backwards (move the
ring's head behind what the collector read), junk (publish 1000 records no shim
writes), ids (1000 calls and returns naming an id outside the shim's), child-junk (a forked child publishes junk into its own ring while the
parent works on), endless (publish well-formed calls and returns as fast as
the ring takes them, forever: past scope's stop too). Each mode calls before() 100 times first and, in the
parent, after() 200 times last. Prints what it did. With the argument
`attached` it prints "ready" and waits for scope to attach (the shim preloaded)
before it starts.
"""
import mmap
import os
import struct
import sys
import threading
import time

HEAD, TAIL, RECORDS, RECORD = 64, 128, 4096, 32


def before():
    return 1


def after():
    return 2


def ring_fd(not_inode=None):
    """The shim's ring memfd (not the one with inode ``not_inode``: a parent's,
    still open here through an mmap's own copy of its fd)."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:scope-ring") \
                    and os.fstat(int(fd)).st_ino != not_inode:
                return int(fd)
        except OSError:
            pass
    raise SystemExit("no scope ring in this process")


def wait_consumed(m, at_least):
    deadline = time.monotonic() + 10
    while struct.unpack_from("=Q", m, TAIL)[0] < at_least and time.monotonic() < deadline:
        time.sleep(0.01)


def junk(m, kind=0x7777, code=7):
    """1000 records no shim writes: of a kind it never writes, or (`ids`) calls
    and returns of a code id outside the shim's (an app event name's)."""
    head = struct.unpack_from("=Q", m, HEAD)[0]
    capacity = struct.unpack_from("=Q", m, 16)[0]
    tid = threading.get_native_id()
    for i in range(1000):
        slot = RECORDS + ((head + i) % capacity) * RECORD
        k = kind if kind is not None else (1 if i % 2 == 0 else 2)
        m[slot:slot + RECORD] = struct.pack("=QIIIiHHi", time.monotonic_ns(), os.getpid(), tid, code, 0, k, 0, 0)
    struct.pack_into("=Q", m, HEAD, head + 1000)


def main(mode):
    print(f"uid {os.getuid()}", flush=True)
    fd = ring_fd()
    size = os.fstat(fd).st_size
    m = mmap.mmap(fd, size)
    for _ in range(100):
        before()
    if mode == "shrink":
        try:
            os.ftruncate(fd, 0)
            print("shrunk", flush=True)
        except OSError as exc:
            print(f"shrink refused {exc.errno}", flush=True)
    elif mode == "backwards":
        wait_consumed(m, struct.unpack_from("=Q", m, HEAD)[0])      # before()'s records read
        struct.pack_into("=Q", m, HEAD, 0)
        print("moved head back", flush=True)
    elif mode == "junk":
        wait_consumed(m, struct.unpack_from("=Q", m, HEAD)[0])      # before()'s records read first:
        junk(m)                                                     # a refused batch is refused whole
        print("published junk", flush=True)
    elif mode == "ids":
        wait_consumed(m, struct.unpack_from("=Q", m, HEAD)[0])
        junk(m, kind=None, code=0xF0000001)
        print("published foreign ids", flush=True)
    elif mode == "child-junk":
        parents = os.fstat(fd).st_ino
        pid = os.fork()
        if pid == 0:
            own = ring_fd(not_inode=parents)        # its own ring, made at fork (fd may be its number now)
            child = mmap.mmap(own, os.fstat(own).st_size)
            before()
            junk(child)
            os._exit(0)
        os.waitpid(pid, 0)
        print("child published junk", flush=True)
    elif mode == "endless":
        print("publishing forever", flush=True)
        capacity = struct.unpack_from("=Q", m, 16)[0]
        tid = threading.get_native_id()
        call = struct.pack("=QIIIiHHi", 0, os.getpid(), tid, 0xE0000001, 0, 1, 0, 0)
        ret = struct.pack("=QIIIiHHi", 0, os.getpid(), tid, 0xE0000001, 0, 2, 0, 0)
        block = (call + ret) * 512            # 1024 records, written with one copy (faster than scope indexes)
        words = memoryview(m).cast("Q")       # head as one 8-byte store (pack_into may tear it)
        head = struct.unpack_from("=Q", m, HEAD)[0]
        if head % 2:                          # calls on even positions (the ring's capacity is even)
            slot = RECORDS + (head % capacity) * RECORD
            m[slot:slot + RECORD] = ret
            head += 1
            words[HEAD // 8] = head
        while True:
            if head - struct.unpack_from("=Q", m, TAIL)[0] > capacity - 1024:
                continue
            start = head % capacity
            n = min(1024, capacity - start)   # up to the wrap; the rest next round
            m[RECORDS + start * RECORD:RECORDS + (start + n) * RECORD] = block[:n * RECORD]
            head += n
            words[HEAD // 8] = head
    time.sleep(0.3)         # the collector reads what was published
    for _ in range(200):
        after()


if sys.argv[2:] == ["attached"]:       # started before scope: its ring comes with the attach
    print("ready", flush=True)
    while True:
        try:
            ring_fd()
            break
        except SystemExit:
            time.sleep(0.01)
    time.sleep(0.2)        # the collector configures the ring it announced
main(sys.argv[1])
