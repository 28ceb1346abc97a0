"""The load driver of the serving benchmarks (serve_load.py, serve_ray.py): run as a process of its own,
so that its CPU is not the server's. N keep-alive HTTP/1.1 clients on asyncio each send their share
of the same POST back to back, after a warm-up; prints {rps, p50, p99, n, errors, first_error} as JSON.

A small hand-written client on purpose: httpx costs more CPU per request than the trivial server it
measures, on a 2-core machine.

    python bench/load_driver.py http://127.0.0.1:8000/graphs/arith/run --ctype application/json \
        --body body.json --clients 8 --total 400
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path


async def _client(host: str, port: int, requests: list[bytes], lat: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for req in requests:
            t = time.perf_counter()
            writer.write(req)
            status_line = await reader.readline()
            length = 0
            close = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                k, _, v = line.decode("latin-1").partition(":")
                k = k.strip().lower()
                if k == "content-length":
                    length = int(v)
                elif k == "connection" and v.strip().lower() == "close":
                    close = True
            body = await reader.readexactly(length)
            lat.append(time.perf_counter() - t)
            code = status_line.split(b" ", 2)[1:2]
            if code != [b"200"]:
                errors.append(status_line.decode("latin-1").strip() + " " + body[:200].decode("utf-8", "replace"))
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


def _request(path: str, body: bytes, ctype: str, host: str, port: int) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nAccept: application/json\r\n\r\n")
    return head.encode("latin-1") + body


async def _drive(url: str, ctype: str, body: bytes, clients: int, total: int, warmup: int) -> dict:
    host_port = url.split("//", 1)[1].split("/", 1)
    host, port = host_port[0].rsplit(":", 1)
    path = "/" + host_port[1]
    req = _request(path, body, ctype, host, int(port))
    # warm-up (plans compiled, pools started, caches filled), not measured
    if warmup:
        await asyncio.gather(*[_client(host, int(port), [req] * max(1, warmup // clients), [], [])
                               for _ in range(clients)])
    lat: list[float] = []
    errors: list[str] = []
    share = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    t0 = time.perf_counter()
    await asyncio.gather(*[_client(host, int(port), [req] * n, lat, errors) for n in share if n])
    wall = time.perf_counter() - t0
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
    return {"rps": len(lat) / wall, "p50": pct(0.50), "p99": pct(0.99), "n": len(lat), "errors": len(errors),
            "first_error": errors[0] if errors else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="where to POST, e.g. http://127.0.0.1:8000/graphs/arith/run")
    ap.add_argument("--ctype", required=True, help="the body's Content-Type")
    ap.add_argument("--body", required=True, help="a file holding the request body")
    ap.add_argument("--clients", type=int, default=1, help="keep-alive connections sending at once")
    ap.add_argument("--total", type=int, default=400, help="requests measured, shared between the clients")
    ap.add_argument("--warmup", type=int, default=64, help="requests sent first, not measured")
    args = ap.parse_args()
    body = Path(args.body).read_bytes()
    print(json.dumps(asyncio.run(_drive(args.url, args.ctype, body, args.clients, args.total, args.warmup))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
