"""Bounded client load: httpclient.py PORT REQUESTS THREADS -> {"seconds", "requests", "p50_ms", "p99_ms"}.

Each thread keeps one HTTP/1.1 connection and sends its share of GET /item?n=20."""
import http.client
import json
import sys
import threading
import time


def run(port, count, out):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(count):
        t0 = time.perf_counter()
        conn.request("GET", "/item?n=20")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
        out.append(time.perf_counter() - t0)
    conn.close()


def main(port, requests, threads):
    lat: list[float] = []
    workers = [threading.Thread(target=run, args=(port, requests // threads, lat)) for _ in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - t0
    lat.sort()
    print(json.dumps({"seconds": seconds, "requests": len(lat),
                      "p50_ms": lat[len(lat) // 2] * 1e3, "p99_ms": lat[int(len(lat) * 0.99)] * 1e3}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
