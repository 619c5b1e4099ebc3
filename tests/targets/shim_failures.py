"""Feeds the shim inputs it cannot record as given; it must swallow each failure,
count it, and let the program go on (see test_shim.py)."""
import scope_shim
from scope_shim import _shim


class Unprintable:
    def __str__(self):
        raise RuntimeError("no str for you")


def failing_encoder(value):
    raise ValueError("encoder broke")


for _ in range(3):
    scope_shim.mark("bad\udcffname")          # a lone surrogate: not encodable as UTF-8
for _ in range(2):
    scope_shim.send("jobs", Unprintable())     # str() of the message id raises
_shim._set_encoder(failing_encoder)
for i in range(4):
    scope_shim.state("counter", i)             # the payload encoder raises
scope_shim.configure()                         # back to the real encoder
scope_shim.mark("after", ok=True)
print("program went on")
