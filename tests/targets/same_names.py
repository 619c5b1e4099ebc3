"""Functions that share a bare name in one file: three __init__ methods, and a
property's getter and setter (which share even their qualified name).
Ground truth: tests/integration/test_names.py."""


class Event:
    def __init__(self):
        self.flag = False


class Thread:
    def __init__(self):
        self.alive = False


class Condition:
    def __init__(self):
        self.waiters = []


class Box:
    @property
    def value(self):
        return 1

    @value.setter
    def value(self, v):
        pass


def main():
    for _ in range(3):
        Event()
    for _ in range(5):
        Thread()
    for _ in range(7):
        Condition()
    box = Box()
    for _ in range(11):
        box.value
    for _ in range(13):
        box.value = 1


main()
