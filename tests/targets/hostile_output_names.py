"""Names chosen to attack the outputs that show them (tests/integration/test_escaping.py,
issue 30 finding 6): a screen clear, a DSR (ESC[6n: the terminal types a reply),
an OSC title, U+FFFF (XML cannot hold it), a ';' and a newline (the folded
format's frame and stack separators), a C1 CSI; in a file whose name asks for a
DSR and holds a ';'. `outer` calls each function 3 times."""
import sys

NAMES = ["clear\x1b[2J\x1b[H", "dsr\x1b[6n", "title\x1b]0;pwned\x07", "nonchar\uffff", "semi;colon",
         "new\nline 99", "c1\x9b6n"]
SOURCE = "".join(f"def f{i}():\n    return sum(range(1000))\n" for i in range(len(NAMES)))
SOURCE += "def outer(fs):\n    for _ in range(3):\n        for f in fs:\n            f()\n"
space = {}
exec(compile(SOURCE, "/tmp/dsr\x1b[6n;file.py", "exec"), space)
funcs = []
for i, name in enumerate(NAMES):
    f = space[f"f{i}"]
    f.__code__ = f.__code__.replace(co_name=name, co_qualname=name)
    funcs.append(f)
space["outer"](funcs)
sys.stdout.write("done\n")
