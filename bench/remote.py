"""A graph with a remote node against one MLServer: pooled clients vs a new connection per call vs
calling MLServer directly with tritonclient. requests/s and p50/p99, over V2 HTTP and V2 gRPC.

    python bench/remote.py [--requests 300] [--clients 1,4] [--frames 100] [--rounds 3]
                           [--protocols v2-http,v2-grpc]

One MLServer 1.7.1 (tests/remote/mlserver_procs.py: its own virtualenv, 127.0.0.1, free ports, stopped at
the end) serves `melnet` (tests/remote/runtime: a 2-layer MLP, mel [T, 80] -> ppg [T, 25]). Every
call sends the same mel ([--frames, 80] float32: 100 frames is one second at a 10 ms hop) and gets
ppg back; each answer is checked against the first.

- pooled: `Session.run` of the graph `mel -> remote -> ppg` (modulespack.remote: one gRPC channel
  per endpoint shared by all threads; over HTTP a keep-alive tritonclient client per thread);
- new-conn: the same graph with a bench-only subclass of the node whose every call opens a new
  client and closes it after, as the original modulespack2 service did (a new gRPC channel per call,
  with its own subchannel so it really connects: gRPC would otherwise share a live connection of
  another channel to the same address; over HTTP a new TCP connection), and `balance: random`;
- direct: tritonclient alone, no graph (one gRPC client shared; one HTTP client per thread).

Tensors go as JSON over HTTP (MLServer 1.7.1 reads no binary tensor extension), raw bytes over gRPC.
N client threads each send their share of --requests back to back after a warm-up. Each point is
measured --rounds times, the modes taken in turn (order rotated each round), and each mode's best
round is shown: on a shared machine other work only slows a round down.
Targets: pooled >= 2x new-conn and >= 0.8x direct (requests/s).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "remote"))
from mlserver_procs import MODEL, mlservers

from modulespack.core import Session
from modulespack.core.spec import load_graph
from modulespack.remote.node import RemoteModel
from modulespack.remote.v2_grpc import V2GrpcTransport
from modulespack.remote.v2_http import V2HttpTransport

MODES = ("pooled", "new-conn", "direct")


# ============================================================================ new connection per call


class NewChannelGrpc(V2GrpcTransport):
    """A new gRPC channel (and TCP connection: a local subchannel pool) for every call."""

    def _call(self, fn: Any) -> Any:
        import tritonclient.grpc as tg
        client = tg.InferenceServerClient(self.address, channel_args=[("grpc.use_local_subchannel_pool", 1)])
        try:
            return super()._call(lambda _shared: fn(client))
        finally:
            client.close()


class NewConnectionHttp(V2HttpTransport):
    """A new tritonclient.http client (a new TCP connection) for every call."""

    def _call(self, fn: Any) -> Any:
        import tritonclient.http as th
        client = th.InferenceServerClient(self.address, connection_timeout=self.timeout,
                                          network_timeout=self.timeout)
        try:
            return fn(client)
        finally:
            client.close()


class NewConnectionRemote(RemoteModel):
    """`module: remote` as the original service called its models: a new connection per call."""

    def _transport(self, address, headers, binary, request_format, signature):
        if self.protocol == "v2-grpc":
            return NewChannelGrpc(address, self.timeout, headers)
        return NewConnectionHttp(address, self.timeout, headers, binary)


# ============================================================================ the three callers


def graph(protocol: str, endpoint: str, module: str, **params: Any) -> dict:
    return {"name": "remote_bench", "inputs": {"mel": {"dtype": "float32", "shape": [None, 80]}},
            "nodes": [{"name": "net", "module": module, "inputs": {"mel": "$mel"}, "params": {
                "protocol": protocol, "endpoints": [endpoint], "model": MODEL, "timeout": 30.0,
                "inputs": {"mel": {"dtype": "float32", "shape": [-1, 80]}},
                "outputs": {"ppg": {"dtype": "float32", "shape": [-1, 25]}}, **params}}],
            "outputs": {"ppg": "net/ppg"}}


def session_caller(protocol: str, endpoint: str, module: str, **params: Any):
    session = Session(load_graph(graph(protocol, endpoint, module, **params)))
    return (lambda mel: session.run({"mel": mel})["ppg"]), session.close


def direct_caller(protocol: str, endpoint: str):
    if protocol == "v2-grpc":
        import tritonclient.grpc as tg
        client = tg.InferenceServerClient(endpoint)

        def call(mel):
            x = tg.InferInput("mel", list(mel.shape), "FP32")
            x.set_data_from_numpy(mel)
            return client.infer(MODEL, [x], outputs=[tg.InferRequestedOutput("ppg")]).as_numpy("ppg")
        return call, client.close

    import tritonclient.http as th
    local, clients = threading.local(), []

    def call(mel):  # tritonclient.http's gevent client must not be shared across threads
        if not hasattr(local, "c"):
            local.c = th.InferenceServerClient(endpoint)
            clients.append(local.c)
        x = th.InferInput("mel", list(mel.shape), "FP32")
        x.set_data_from_numpy(mel, binary_data=False)
        out = th.InferRequestedOutput("ppg", binary_data=False)
        return local.c.infer(MODEL, [x], outputs=[out]).as_numpy("ppg")
    return call, lambda: [c.close() for c in clients]


def callers(protocol: str, endpoint: str) -> dict[str, tuple[Callable, Callable]]:
    return {"pooled": session_caller(protocol, endpoint, "remote"),
            "new-conn": session_caller(protocol, endpoint, "__main__:NewConnectionRemote", balance="random"),
            "direct": direct_caller(protocol, endpoint)}


# ============================================================================ measuring


def measure(call: Callable, mel: np.ndarray, want: np.ndarray, clients: int, total: int, warmup: int) -> dict:
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def worker(n: int):
        mine = []
        for _ in range(warmup):
            call(mel)
        start.wait()
        for _ in range(n):
            t = time.perf_counter()
            try:
                got = call(mel)
                if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
                    errors.append("wrong answer")
            except Exception as e:  # noqa: BLE001  (counted, not raised: the table says how many)
                errors.append(f"{type(e).__name__}: {e}")
            mine.append(time.perf_counter() - t)
        with lock:
            lat.extend(mine)

    shares = [total // clients + (i < total % clients) for i in range(clients)]
    threads = [threading.Thread(target=worker, args=(n,)) for n in shares]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"rps": total / wall, "p50": 1e3 * statistics.median(lat),
            "p99": 1e3 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--clients", default="1,4")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--protocols", default="v2-http,v2-grpc")
    a = ap.parse_args()
    mel = np.random.default_rng(0).standard_normal((a.frames, 80)).astype(np.float32)
    rows = []
    with mlservers(1) as servers:
        server = servers[0]
        print(f"MLServer on {server.http} (HTTP) and {server.grpc} (gRPC); mel [{a.frames}, 80] float32, "
              f"{a.requests} requests per point, best of {a.rounds} rounds")
        for protocol in a.protocols.split(","):
            endpoint = server.grpc if protocol == "v2-grpc" else server.http
            made = callers(protocol, endpoint)
            want = made["direct"][0](mel)
            try:
                for clients in map(int, a.clients.split(",")):
                    best: dict[str, dict] = {}
                    for r in range(a.rounds):
                        order = MODES[r % 3:] + MODES[:r % 3]
                        for mode in order:
                            m = measure(made[mode][0], mel, want, clients, a.requests, a.warmup)
                            if mode not in best or m["rps"] > best[mode]["rps"]:
                                best[mode] = m
                    rows.append((protocol, clients, best))
                    print_point(protocol, clients, best)
            finally:
                for _, close in made.values():
                    close()
    print_table(rows)


def print_point(protocol: str, clients: int, best: dict) -> None:
    print(f"  {protocol} clients={clients}: " + ", ".join(f"{m} {best[m]['rps']:.0f}/s" for m in MODES), flush=True)


def print_table(rows: list) -> None:
    print()
    print(f"{'protocol':9} {'clients':>7} {'mode':9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
          f" {'pooled/new':>10} {'pooled/direct':>13}")
    verdicts = []
    for protocol, clients, best in rows:
        vs_new = best["pooled"]["rps"] / best["new-conn"]["rps"]
        vs_direct = best["pooled"]["rps"] / best["direct"]["rps"]
        for mode in MODES:
            m = best[mode]
            extra = f" {vs_new:10.2f} {vs_direct:13.2f}" if mode == "pooled" else ""
            print(f"{protocol:9} {clients:7d} {mode:9} {m['rps']:8.1f} {m['p50']:8.2f} {m['p99']:8.2f}"
                  f" {len(m['errors']):6d}{extra}")
        verdicts.append(f"{protocol} x{clients}: pooled/new {vs_new:.2f} ({'met' if vs_new >= 2 else 'MISSED'}), "
                        f"pooled/direct {vs_direct:.2f} ({'met' if vs_direct >= 0.8 else 'MISSED'})")
    print("\nTargets: pooled >= 2x new-conn, pooled >= 0.8x direct")
    for v in verdicts:
        print("  " + v)


if __name__ == "__main__":
    main()
