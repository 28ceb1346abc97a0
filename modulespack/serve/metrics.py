"""Prometheus metrics of one app, in its own CollectorRegistry (two apps in a process do not mix)."""
from __future__ import annotations

from typing import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

UNKNOWN = "(unknown)"  # graph label of requests for graphs that do not exist (no unbounded label values)

REQUEST_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120)
NODE_BUCKETS = (.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """Counters and histograms of graph runs.

    - `modulespack_requests_total{graph,status}`: run requests by HTTP status
    - `modulespack_errors_total{graph,status,kind}`: failed runs by kind: `input` (422: the client's
      values, a module refusing them included), `node` (500: a module failed), `timeout` (504),
      `too-large` (413), `worker` (503: its worker process died), `disconnected`, `internal`, ...
    - `modulespack_request_seconds{graph}`: latency of run requests, upload to answer
    - `modulespack_node_seconds{graph,node}`: time in each node
    - `modulespack_in_flight{graph}`: runs in progress
    - `modulespack_graph_ready{graph,engine}`: 1 once the graph's engine is ready (warmed up)
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, graphs: Iterable[str] = (), nodes: Mapping[str, Iterable[str]] | None = None):
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("modulespack_requests", "Graph run requests by graph and HTTP status",
                                ["graph", "status"], registry=r)
        self.errors = Counter("modulespack_errors", "Failed graph runs by graph, HTTP status and kind",
                              ["graph", "status", "kind"], registry=r)
        self.latency = Histogram("modulespack_request_seconds", "Run request latency (body read to answer)",
                                 ["graph"], buckets=REQUEST_BUCKETS, registry=r)
        self.node_latency = Histogram("modulespack_node_seconds", "Time spent in each node of a run",
                                      ["graph", "node"], buckets=NODE_BUCKETS, registry=r)
        self.in_flight = Gauge("modulespack_in_flight", "Graph runs in progress", ["graph"], registry=r)
        self.ready = Gauge("modulespack_graph_ready", "1 when the graph's engine is ready", ["graph", "engine"],
                           registry=r)
        # label children looked up once: .labels() takes a lock and a dict walk per call
        self._lat = {g: self.latency.labels(g) for g in graphs}
        self._flight = {g: self.in_flight.labels(g) for g in graphs}
        self._nodes = {g: {n: self.node_latency.labels(g, n) for n in ns} for g, ns in (nodes or {}).items()}
        self._req: dict[tuple[str, int], Counter] = {}

    def started(self, graph: str) -> None:
        g = self._flight.get(graph)
        if g is not None:
            g.inc()

    def finished(self, graph: str, status: int, seconds: float, timings: Mapping[str, float] | None = None,
                 error_kind: str | None = None, known: bool = True) -> None:
        label = graph if known else UNKNOWN
        key = (label, status)
        c = self._req.get(key)
        if c is None:
            c = self._req[key] = self.requests.labels(label, str(status))
        c.inc()
        if known:
            self._flight[graph].dec()
            self._lat[graph].observe(seconds)
        if error_kind is not None:
            self.errors.labels(label, str(status), error_kind).inc()
        if timings:
            hs = self._nodes.get(graph)
            if hs is not None:
                for n, dt in timings.items():
                    h = hs.get(n)
                    if h is not None:
                        h.observe(dt)

    def set_ready(self, graph: str, engine: str, ready: bool = True) -> None:
        self.ready.labels(graph, engine).set(1 if ready else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
