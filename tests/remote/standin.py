"""Small model-server stand-ins for the remote node's tests, on 127.0.0.1 and free ports.

`V2StandIn` answers the Open Inference Protocol's REST routes with JSON tensors only (what MLServer
1.7.1 speaks); `TFServingStandIn` answers TF-Serving's REST predict API as documented
(https://www.tensorflow.org/tfx/serving/api_rest: `{"instances"}` -> `{"predictions"}`, `{"inputs"}`
-> `{"outputs"}`, model status at `GET /v1/models/{name}`); TF-Serving itself is not installable
here (its Python API needs all of tensorflow, its server is a C++ binary). Both serve one model,
`y = 2 * x + 1` over a float32 vector, can be made slow or failing, and stop and restart on the
same port, so tests can take an endpoint down and bring it back.
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


def model_fn(x: np.ndarray) -> np.ndarray:
    return (2.0 * x + 1.0).astype(np.float32)


class _QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out, or stop() cutting connections: expected here


class _Server:
    """A ThreadingHTTPServer in a thread; `stop()` then `start()` again binds the same port."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.handler = handler
        self.port = 0
        self.delay = 0.0          # seconds to sleep before answering an infer/predict
        self.fail_status = 0      # answer every infer/predict with this status when set
        self.calls = 0            # infer/predict requests received
        self._lock = threading.Lock()
        self._conns: set = set()  # open connections, cut by stop() as a killed server's would be
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> _Server:
        owner = self

        class H(self.handler):
            server_owner = owner
        httpd = _QuietHTTPServer(("127.0.0.1", self.port), H)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def count(self) -> None:
        with self._lock:
            self.calls += 1


class _Handler(BaseHTTPRequestHandler):
    server_owner: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers: the client's pooled connections are reused

    def log_message(self, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server_owner._lock:
            self.server_owner._conns.add(self.connection)

    def finish(self) -> None:
        with self.server_owner._lock:
            self.server_owner._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def infer_gate(self) -> bool:
        """Count the call, wait the configured delay; False (answered) when set to fail."""
        owner = self.server_owner
        owner.count()
        if owner.delay:
            time.sleep(owner.delay)
        if owner.fail_status:
            self.reply(owner.fail_status, {"error": f"stand-in set to fail with {owner.fail_status}"})
            return False
        return True


class _V2Handler(_Handler):
    MODEL = "double"
    META = {"name": "double", "versions": ["1"], "platform": "stand-in",
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]}],
            "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1]}]}

    def do_GET(self) -> None:
        p = self.path.split("?")[0].rstrip("/")
        if p in ("/v2/health/ready", "/v2/health/live"):
            return self.reply(200, {"ready": True, "live": True})
        m = re.fullmatch(r"/v2/models/([^/]+)(?:/versions/[^/]+)?(/ready)?", p)
        if not m or m.group(1) != self.MODEL:
            return self.reply(404, {"error": f"unknown model {p}"})
        self.reply(200, {"name": self.MODEL, "ready": True} if m.group(2) else self.META)

    def do_POST(self) -> None:
        p = self.path.split("?")[0]
        m = re.fullmatch(r"/v2/models/([^/]+)(?:/versions/[^/]+)?/infer", p)
        req = self.body()
        if not m or m.group(1) != self.MODEL:
            return self.reply(404, {"error": f"unknown model {p}"})
        if not self.infer_gate():
            return
        x = next(t for t in req["inputs"] if t["name"] == "x")
        y = model_fn(np.asarray(x["data"], dtype=np.float32).reshape(x["shape"]))
        self.reply(200, {"model_name": self.MODEL, "id": req.get("id", ""),
                         "outputs": [{"name": "y", "datatype": "FP32", "shape": list(y.shape),
                                      "data": y.ravel().tolist()}]})


class _TFHandler(_Handler):
    MODEL = "double"

    # the signature as GET .../metadata shows it (SignatureDef in JSON: int64 sizes are strings)
    SIGNATURE = {"inputs": {"x": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1", "name": ""}],
                                                                      "unknown_rank": False}, "name": "x:0"}},
                 "outputs": {"y": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1", "name": ""}],
                                                                       "unknown_rank": False}, "name": "y:0"}},
                 "method_name": "tensorflow/serving/predict"}

    def do_GET(self) -> None:
        m = re.fullmatch(r"/v1/models/([^/:]+)(?:/versions/(\d+))?(/metadata)?", self.path.rstrip("/"))
        if not m or m.group(1) != self.MODEL:
            return self.reply(404, {"error": f"Servable not found for request: Latest({self.path})"})
        if m.group(3):
            return self.reply(200, {"model_spec": {"name": self.MODEL, "signature_name": "", "version": "1"},
                                    "metadata": {"signature_def": {"signature_def": {
                                        "serving_default": self.SIGNATURE}}}})
        self.reply(200, {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                                   "status": {"error_code": "OK", "error_message": ""}}]})

    def do_POST(self) -> None:
        m = re.fullmatch(r"/v1/models/([^/:]+)(?:/versions/(\d+))?:predict", self.path)
        req = self.body()
        if not m or m.group(1) != self.MODEL:
            return self.reply(404, {"error": f"Servable not found for request: {self.path}"})
        if not self.infer_gate():
            return
        if "instances" in req:  # row format: a list of instances, each a dict of named inputs or a bare value
            rows = req["instances"]
            xs = [r["x"] if isinstance(r, dict) else r for r in rows]
            return self.reply(200, {"predictions": [{"y": model_fn(np.asarray(x, np.float32)).tolist()} for x in xs]})
        inputs = req.get("inputs")
        x = inputs["x"] if isinstance(inputs, dict) else inputs
        self.reply(200, {"outputs": {"y": model_fn(np.asarray(x, np.float32)).tolist()}})


def v2_standin() -> _Server:
    return _Server(_V2Handler).start()


def tfserving_standin() -> _Server:
    return _Server(_TFHandler).start()


class GrpcV2StandIn:
    """The same model over V2 gRPC (the servicer base tritonclient ships), FP32 raw tensors only;
    `stop()` then `start()` serves again on the same port."""

    def __init__(self):
        self.port = 0
        self.delay = 0.0
        self.calls = 0
        self._server = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> GrpcV2StandIn:
        from concurrent import futures

        import grpc
        from tritonclient.grpc import service_pb2 as pb
        from tritonclient.grpc import service_pb2_grpc as pbg
        owner = self

        class Servicer(pbg.GRPCInferenceServiceServicer):
            def ServerLive(self, req, ctx):
                return pb.ServerLiveResponse(live=True)

            def ServerReady(self, req, ctx):
                return pb.ServerReadyResponse(ready=True)

            def ModelReady(self, req, ctx):
                return pb.ModelReadyResponse(ready=req.name == "double")

            def ModelMetadata(self, req, ctx):
                if req.name != "double":
                    ctx.abort(grpc.StatusCode.NOT_FOUND, f"unknown model {req.name}")
                t = pb.ModelMetadataResponse.TensorMetadata
                return pb.ModelMetadataResponse(name="double", versions=["1"], platform="stand-in",
                                                inputs=[t(name="x", datatype="FP32", shape=[-1])],
                                                outputs=[t(name="y", datatype="FP32", shape=[-1])])

            def ModelInfer(self, req, ctx):
                owner.calls += 1
                if owner.delay:
                    time.sleep(owner.delay)
                if req.model_name != "double":
                    ctx.abort(grpc.StatusCode.NOT_FOUND, f"unknown model {req.model_name}")
                x = np.frombuffer(req.raw_input_contents[0], dtype="<f4")
                y = model_fn(x)
                out = pb.ModelInferResponse.InferOutputTensor(name="y", datatype="FP32", shape=[len(y)])
                return pb.ModelInferResponse(model_name="double", outputs=[out], raw_output_contents=[y.tobytes()])

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pbg.add_GRPCInferenceServiceServicer_to_server(Servicer(), server)
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None


def grpc_standin() -> GrpcV2StandIn:
    return GrpcV2StandIn().start()


def double_graph(protocol: str, endpoints: list[str], **params: Any) -> dict:
    """A graph file (as a dict) whose only node is `module: remote` calling the stand-ins' model."""
    p = {"protocol": protocol, "endpoints": endpoints, "model": "double", "timeout": 2.0,
         "inputs": {"x": {"dtype": "float32", "shape": [-1]}},
         "outputs": {"y": {"dtype": "float32", "shape": [-1]}}, **params}
    return {"inputs": {"x": {"dtype": "float32", "shape": [None]}},
            "nodes": [{"name": "net", "module": "remote", "params": p, "inputs": {"x": "x"}}],
            "outputs": {"y": "net/y"}}
