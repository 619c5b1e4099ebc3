"""A workload whose executed lines are known: f's two body lines run 1,000 times each."""


def f(i):
    x = i + 1
    return x


def main():
    total = 0
    for i in range(1000):
        total += f(i)
    print(total)


main()
