"""A target that leaks spans and messages through the shim's app-event API:
every iteration it begins a span it never ends (in a context of its own, so
the leaked spans do not nest) and sends a message nobody receives (a long
message id: the kernel keeps 255 bytes of it); every DONE_EVERY-th it also ends a span ("done"). RATE iterations a second (paced, so a
collector keeping up is what is measured), for SECONDS; then it writes how
many iterations and "done" spans it made to COUNT_FILE (the ground truth
tests/integration/test_trust_span_churn.py checks).

    span_leak.py SECONDS COUNT_FILE RATE ID_BYTES
"""
import contextvars
import sys
import time

import scope_shim as scope

BATCH = 50
DONE_EVERY = 10
LEAK = "leak" + "_" * 120          # long names (the most the shim sends): what each costs scope to hold
CHANNEL = "orphans" + "_" * 120


def leak(i: int) -> None:
    scope.span(LEAK, i=i).__enter__()         # begun, never ended


def main(seconds: float, count_file: str, rate: float, id_bytes: int) -> None:
    pad = "m" * id_bytes
    n = done = 0
    began = time.monotonic()
    end = began + seconds
    while time.monotonic() < end:
        for _ in range(BATCH):
            contextvars.copy_context().run(leak, n)
            if n % DONE_EVERY == 0:
                with scope.span("done"):
                    done += 1
            scope.send(CHANNEL, f"{n}-{pad}")
            n += 1
        ahead = began + n / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    with open(count_file, "w") as fh:
        fh.write(f"{n} {done}\n")


if __name__ == "__main__":
    main(float(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
