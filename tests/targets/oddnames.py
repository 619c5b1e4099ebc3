"""Names and payloads at their limits (tests/integration/test_faults.py): a
5,000-character function name, a non-ASCII one, a state holding undecodable
bytes, a mark with a 100 KB field. Each function is called exactly 3 times."""
import scope_shim

LONG = "f" + "x" * 4999
exec(f"def {LONG}():\n    return 1\n")
long_fn = globals()[LONG]


def función_ñandú():
    return 2


for _ in range(3):
    long_fn()
    función_ñandú()
scope_shim.state("raw", b"\xff\xfe\x00bytes")
scope_shim.mark("big", blob="y" * 100_000)
