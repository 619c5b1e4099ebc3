"""A threaded HTTP server on loopback doing some Python work per request.

httpserver.py PORTFILE (gets "PORT PID"): serves until SIGINT/SIGTERM, then exits normally (so
tracers that write at exit do). Each GET /item?n=N parses the query, builds N
records through a few small functions and answers them as JSON.
"""
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def price(i):
    return round(i * 1.07 + 3, 2)


def record(i):
    return {"id": i, "name": f"item-{i}", "price": price(i), "tags": tags(i)}


def tags(i):
    return [t for t in ("new", "sale", "eco") if i % (len(t) + 1) == 0]


def render(n):
    return json.dumps([record(i) for i in range(n)]).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True     # headers and body are two writes: no 40 ms delayed-ACK stall

    def do_GET(self):
        n = int(parse_qs(urlparse(self.path).query).get("n", ["20"])[0])
        body = render(n)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main(portfile):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True

    def stop(*_):
        threading.Thread(target=server.shutdown).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(portfile + ".tmp", "w") as fh:
        fh.write(f"{server.server_address[1]} {os.getpid()}")

    os.rename(portfile + ".tmp", portfile)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main(sys.argv[1])
