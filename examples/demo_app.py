"""scope's demo: a small order service with worker threads, nested calls, GC and lazy imports.

Run it with Debian's /usr/bin/python3.11 and record it:
    /usr/bin/python3.11 examples/demo_app.py &  scope attach $! --duration 5
"""
import queue
import random
import sys
import threading
import time

ORDERS: "queue.Queue[dict]" = queue.Queue(maxsize=100)


def parse(raw):
    import json  # imported lazily: shows up as an import in the recording
    return json.loads(raw)


def validate(order):
    if order["qty"] <= 0:
        raise ValueError("quantity must be positive")
    return order


def price(order):
    from decimal import Decimal
    unit = Decimal("9.99") if order["sku"].startswith("A") else Decimal("4.50")
    return unit * order["qty"]


def apply_discount(total, order):
    # the occasional slow path: a "remote" loyalty lookup
    if order["customer"] % 17 == 0:
        time.sleep(0.02)
        return total * 9 / 10
    return total


def render(order, total):
    lines = [f"{k}={v}" for k, v in sorted(order.items())]
    return ";".join(lines) + f";total={total}"


def handle(raw):
    try:
        order = validate(parse(raw))
    except ValueError:
        return "rejected"
    total = apply_discount(price(order), order)
    return render(order, total)


def churn():
    # cyclic garbage so the collector runs now and then
    for _ in range(200):
        a, b = [], []
        a.append(b)
        b.append(a)


def worker(stop):
    while not stop.is_set():
        try:
            raw = ORDERS.get(timeout=0.1)
        except queue.Empty:
            continue
        handle(raw)
        churn()


def producer(stop, rng, warmup):
    stop.wait(warmup)   # give `scope attach` time to start: the first orders import json, decimal
    n = 0
    while not stop.is_set():
        n += 1
        qty = rng.choice([1, 2, 3, 5, 0])
        ORDERS.put(f'{{"id": {n}, "sku": "{rng.choice("AB")}{n % 50}", "qty": {qty}, '
                   f'"customer": {rng.randrange(1000)}}}')
        time.sleep(0.002)


def main(seconds):
    stop = threading.Event()
    rng = random.Random(7)
    threads = [threading.Thread(target=worker, args=(stop,), name=f"worker-{i}") for i in range(3)]
    threads.append(threading.Thread(target=producer, args=(stop, rng, 2.0), name="producer"))
    for t in threads:
        t.start()
    print("demo: serving orders", flush=True)
    try:
        time.sleep(seconds)
    except KeyboardInterrupt:
        pass
    stop.set()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3600)
