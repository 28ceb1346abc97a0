"""`module: remote` — a model on a model server (Triton, KServe, MLServer, TorchServe, another
modulespack serve, TF-Serving) as a graph node.

    - name: vocoder
      module: remote
      params:
        protocol: v2-http            # v2-grpc, tfserving-rest
        endpoints: [10.0.0.5:8000, 10.0.0.6:8000]
        model: hifigan
        inputs:  {mel: {name: input__0, dtype: float32, shape: [-1, 80]}}
        outputs: {wav: {name: output__0, dtype: float32, shape: [-1]}}
        timeout: 5                   # seconds per attempt
        balance: least_outstanding   # round_robin (default), random
        idempotent: true             # may a request the server may have run be sent again?
      inputs: {mel: acoustic/mel}

Ports come from `inputs`/`outputs` (checked along edges at build time like any port). At start-up
the node asks every endpoint's ready route and, from the first ready one, the model's metadata:
a tensor the server does not have, or of another datatype or shape, stops the engine's start with
an error naming the node, the tensor and both shapes. A value of the wrong dtype or shape is
refused (InputError naming the port) before anything is sent. Retries and health: endpoints.py.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.cancel import current_token
from ..core.errors import InputError
from ..core.module import Module
from ..core.ports import Port, value_checker
from . import params as P
from .endpoints import Endpoints, Failure

log = logging.getLogger(__name__)


def _fmt(shape: Any) -> str:
    return "[" + ", ".join("-1" if d is None or d == -1 else str(d) for d in shape) + "]" if shape is not None \
        else "[any rank]"


def tensor_mismatch(t: P.Tensor, served: tuple[str, list[int] | None], is_input: bool) -> str | None:
    """Why the graph file's tensor and the server's differ, or None. Sizes the server fixes must be
    fixed alike for inputs (else some inputs would fail at run time); -1 on the server takes any."""
    datatype, shape = served
    if datatype and datatype != t.datatype:
        return f"datatype {t.datatype} in the graph file, {datatype} on the server"
    if shape is None:
        return None
    mine = t.v2_shape()
    bad = len(shape) != len(mine) or any(
        s != -1 and (m != s if m != -1 else is_input) for m, s in zip(mine, shape))
    return f"shape {_fmt(mine)} in the graph file, {_fmt(shape)} on the server" if bad else None


class RemoteModel(Module):
    """A model served by a model server (V2 over HTTP or gRPC, TF-Serving REST); ports from its tensor mapping."""

    # It holds no model and spends a run waiting on a socket with the GIL released: threads run
    # many at once, so a process-pool slot or a whole CPU would sit idle (engines: place it anywhere)
    resources = {"num_cpus": 0.05, "memory_mb": 32, "needs_processes": False}

    def __init__(self, protocol: str, endpoints: list[str] | str, model: str, inputs: dict, outputs: dict,
                 version: str | int | None = None, timeout: float = 10.0, retries: int | None = None,
                 balance: str = "round_robin", idempotent: bool = False, binary_data: bool = False,
                 request_format: str = "columnar", signature: str | None = None,
                 headers: dict[str, str] | None = None):
        bad = self.param_problems(dict(protocol=protocol, endpoints=endpoints, model=model, inputs=inputs,
                                       outputs=outputs, timeout=timeout, retries=retries, balance=balance,
                                       request_format=request_format))
        if bad:
            raise ValueError("; ".join(f"parameter '{k}': {m}" for k, m in bad))
        self.protocol, self.model = protocol, model
        self.version = "" if version is None else str(version)
        self.ins, self.outs = P.tensors(inputs, "inputs"), P.tensors(outputs, "outputs")
        self.addresses = P.endpoint_list(endpoints)
        self.timeout = float(timeout)
        hdrs = {k: os.path.expandvars(str(v)) for k, v in (headers or {}).items()}  # "$API_KEY" from the environment
        self.transports = [self._transport(a, hdrs, binary_data, request_format, signature) for a in self.addresses]
        self.pool = Endpoints(self.transports, model, self.version, balance, retries, idempotent)
        self._checks = {p: value_checker(t.as_port()) for p, t in self.ins.items()}
        self._where = f"model '{model}' over {protocol}"

    def _transport(self, address: str, headers: dict, binary: bool, request_format: str, signature: str | None):
        if self.protocol == "v2-http":
            from .v2_http import V2HttpTransport
            return V2HttpTransport(address, self.timeout, headers, binary)
        if self.protocol == "v2-grpc":
            from .v2_grpc import V2GrpcTransport
            return V2GrpcTransport(address, self.timeout, headers)
        from .tfserving import TFServingTransport
        return TFServingTransport(address, self.timeout, headers, request_format == "row", signature)

    @classmethod
    def param_problems(cls, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        out = super().param_problems(params) + P.problems(params)
        fmt = params.get("request_format", "columnar")
        if fmt not in ("columnar", "row"):
            out.append(("request_format", f"expected columnar or row (TF-Serving's inputs/instances), got {fmt!r}"))
        return out

    @classmethod
    def ports(cls, params: Mapping[str, Any]) -> tuple[dict[str, Port], dict[str, Port]]:
        return ({p: t.as_port() for p, t in P.tensors(params.get("inputs"), "inputs").items()},
                {p: t.as_port() for p, t in P.tensors(params.get("outputs"), "outputs").items()})

    def setup(self) -> None:
        up = self.pool.check_all()
        if not up:
            log.warning("remote %s: no endpoint ready at start-up (%s); tensors not checked against the server",
                        self._where, "; ".join(f"{e.address}: {e.last_error}" for e in self.pool.eps))
            return
        try:
            meta = up[0].transport.metadata(self.model, self.version)
        except Failure as f:
            log.warning("remote %s: no metadata from %s (%s); tensors not checked", self._where, up[0].address, f)
            return
        problems = []
        for side, mine in (("inputs", self.ins), ("outputs", self.outs)):
            served = meta.get(side, {})
            for port, t in mine.items():
                if t.name not in served:
                    problems.append(f"{side[:-1]} tensor '{t.name}' (port '{port}'): the server's model has no such "
                                    f"{side[:-1]} (it has: {', '.join(served) or 'none'})")
                    continue
                why = tensor_mismatch(t, served[t.name], side == "inputs")
                if why:
                    problems.append(f"{side[:-1]} tensor '{t.name}' (port '{port}'): {why}")
        if problems:
            raise ValueError(f"{self._where} at {up[0].address} does not match the graph file: " + "; ".join(problems))

    def _tensor(self, port: str, t: P.Tensor, v: Any) -> tuple[np.ndarray, str]:
        check = self._checks[port]
        why = check(v) if check else None
        if why:
            raise InputError(f"remote {self._where}: input '{port}' (tensor '{t.name}'): {why}", port=port)
        if t.scalar == "str":
            return np.array([v.encode("utf-8")], dtype=object), t.datatype
        if t.scalar:
            return np.array([v], dtype=t.dtype), t.datatype
        if t.datatype == "BYTES":
            return np.asarray(v, dtype=object), t.datatype
        return np.ascontiguousarray(v), t.datatype

    def _value(self, port: str, t: P.Tensor, v: Any, address: str = "") -> Any:
        arr = np.asarray(v) if t.datatype == "BYTES" else np.asarray(v, dtype=t.dtype)
        if t.scalar:
            if arr.size != 1:
                raise RuntimeError(f"remote {self._where}: output tensor '{t.name}' has shape {list(arr.shape)}, "
                                   f"not one value for scalar port '{port}'")
            x = arr.reshape(()).item()
            return x.decode("utf-8") if isinstance(x, bytes) else {"int": int, "float": float, "bool": bool}.get(
                t.scalar, str)(x)
        return arr

    def run(self, **inputs: Any) -> dict[str, Any]:
        tensors = {t.name: self._tensor(p, t, inputs[p]) for p, t in self.ins.items() if p in inputs}
        names = [t.name for t in self.outs.values()]
        token = current_token()
        got = self.pool.call(lambda tr: tr.infer(self.model, self.version, tensors, names), f"remote {self._where}",
                             token.raise_if_set if token is not None else (lambda: None))
        return {p: self._value(p, t, got[t.name]) for p, t in self.outs.items()}

    def close(self) -> None:
        self.pool.close()
