"""Names chosen to attack the terminal that shows them (tests/integration/test_escaping.py):
a function named with an OSC title sequence and BEL, one with a clipboard write
(OSC 52), one with a screen clear and a newline, one with a C1 CSI and a
right-to-left override, in a file whose name clears the screen. Each is called
exactly 3 times."""
import sys

NAMES = ["title\x1b]0;PWNED\x07", "clip\x1b]52;c;ZXZpbA==\x07", "clear\x1b[2J\nforged row",
         "c1\x9b31m\u202eevil"]
SOURCE = "".join(f"def f{i}():\n    return {i}\n" for i in range(len(NAMES)))
space = {}
exec(compile(SOURCE, "/tmp/\x1b[2Jfile.py", "exec"), space)
funcs = []
for i, name in enumerate(NAMES):
    f = space[f"f{i}"]
    f.__code__ = f.__code__.replace(co_name=name, co_qualname=name)
    funcs.append(f)
for _ in range(3):
    for f in funcs:
        f()
sys.stdout.write("done\n")
