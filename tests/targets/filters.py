"""handle_a() and handle_b() each call _helper() and util(); known counts (see test_shim.py)."""


def _helper(x):
    return x


def util(x):
    return _helper(x) + 1


def handle_a(i):
    return util(i) + _helper(i)


def handle_b(i):
    return util(i)


for i in range(30):
    handle_a(i)
for i in range(20):
    handle_b(i)
