#!/usr/bin/env python3
"""A small closed-loop HTTP/1.1 load generator for machines without wrk: C keep-alive
connections spread over P processes, each sending the same POST and reading the answer,
for D seconds. Prints requests/s, non-2xx count and p50/p99 latency.

  tools/http_load.py URL [-c 8] [-p 2] [-d 10] [--body JSON]
"""
import argparse
import json
import multiprocessing as mp
import socket
import time
from urllib.parse import urlsplit

BODY = {"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2,
        "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": "0", "thal": "6"}


def worker(url, connections, seconds, body, out):
    u = urlsplit(url)
    payload = body.encode()
    request = (f"POST {u.path} HTTP/1.1\r\nHost: {u.hostname}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
    socks = [socket.create_connection((u.hostname, u.port)) for _ in range(connections)]
    buffers = [b""] * connections
    pending = {}
    latencies, bad = [], 0
    end = time.monotonic() + seconds
    import selectors
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sel.register(s, selectors.EVENT_READ, i)
        s.sendall(request)
        pending[i] = time.monotonic()
    while pending:
        for key, _ in sel.select(timeout=1):
            i = key.data
            chunk = socks[i].recv(65536)
            if not chunk:
                raise SystemExit("server closed a connection")
            buffers[i] += chunk
            head_end = buffers[i].find(b"\r\n\r\n")
            if head_end < 0:
                continue
            head = buffers[i][:head_end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if len(buffers[i]) < head_end + 4 + length:
                continue
            buffers[i] = buffers[i][head_end + 4 + length:]
            now = time.monotonic()
            latencies.append(now - pending.pop(i))
            if not head.split(" ", 2)[1].startswith("2"):
                bad += 1
            if now < end:
                socks[i].sendall(request)
                pending[i] = now
    out.put((latencies, bad))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("-c", type=int, default=8)
    p.add_argument("-p", type=int, default=2)
    p.add_argument("-d", type=float, default=10)
    p.add_argument("--body", default=json.dumps(BODY))
    a = p.parse_args()
    out = mp.Queue()
    per = [a.c // a.p + (1 if i < a.c % a.p else 0) for i in range(a.p)]
    procs = [mp.Process(target=worker, args=(a.url, n, a.d, a.body, out)) for n in per if n]
    for pr in procs:
        pr.start()
    latencies, bad = [], 0
    for _ in procs:
        l, b = out.get()
        latencies += l
        bad += b
    for pr in procs:
        pr.join()
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    print(f"{len(latencies) / a.d:.0f} req/s  non-2xx {bad}  p50 {pct(0.5):.2f} ms  p99 {pct(0.99):.2f} ms")


if __name__ == "__main__":
    main()
