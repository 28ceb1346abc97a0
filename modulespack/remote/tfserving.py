"""TF-Serving's REST API (https://www.tensorflow.org/tfx/serving/api_rest), with httpx.

- predict: `POST /v1/models/{model}[/versions/{v}]:predict`, columnar `{"inputs": {name: value}}`
  -> `{"outputs": {name: value}}` (a bare value when the signature has one output), or row
  `{"instances": [{name: row}, ...]}` -> `{"predictions": [...]}` (rows are the first dimension
  of every tensor); `signature_name` when the node names one;
- status: `GET /v1/models/{model}[/versions/{v}]`, ready when a version is AVAILABLE;
- metadata: `GET .../metadata`, the signature's inputs and outputs with DT_* types and sizes.
Errors come as `{"error": message}` with an HTTP status.

One httpx.Client per endpoint: thread-safe, with its own keep-alive connection pool.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .endpoints import MAYBE_SENT, NOT_SENT, REFUSED, REJECTED, SERVER, TIMEOUT, Failure

# TensorFlow DataType enum names -> V2 datatypes, for comparing with the graph file's mapping
DT_TO_V2 = {"DT_FLOAT": "FP32", "DT_DOUBLE": "FP64", "DT_HALF": "FP16", "DT_INT8": "INT8", "DT_INT16": "INT16",
            "DT_INT32": "INT32", "DT_INT64": "INT64", "DT_UINT8": "UINT8", "DT_UINT16": "UINT16",
            "DT_UINT32": "UINT32", "DT_UINT64": "UINT64", "DT_BOOL": "BOOL", "DT_STRING": "BYTES"}


def _json_value(arr: np.ndarray) -> Any:
    if arr.dtype == object:
        return [v.decode() if isinstance(v, bytes) else v for v in arr.ravel()] if arr.ndim else arr.item()
    return arr.tolist()


class TFServingTransport:
    def __init__(self, address: str, timeout: float, headers: dict[str, str] | None = None,
                 row_format: bool = False, signature: str | None = None):
        import httpx
        self.address = address
        self.timeout = timeout
        self.row_format = row_format
        self.signature = signature
        self._client = httpx.Client(base_url=f"http://{address}", headers=headers or {},
                                    timeout=httpx.Timeout(timeout), limits=httpx.Limits(max_keepalive_connections=64))

    def _url(self, model: str, version: str, tail: str = "") -> str:
        return f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + tail

    def _request(self, method: str, url: str, **kw: Any) -> Any:
        import httpx
        try:
            r = self._client.request(method, url, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise Failure(NOT_SENT, f"cannot connect: {e}") from None
        except httpx.PoolTimeout:
            raise Failure(NOT_SENT, f"no free connection within {self.timeout:g} s") from None
        except httpx.TimeoutException:
            raise Failure(TIMEOUT, f"no answer within {self.timeout:g} s") from None
        except httpx.TransportError as e:
            raise Failure(MAYBE_SENT, f"connection lost: {type(e).__name__}: {e}") from None
        if r.status_code == 200:
            try:
                return r.json()
            except ValueError:
                raise Failure(SERVER, f"answer is not JSON: {r.text[:200]!r}") from None
        try:
            msg = r.json().get("error", r.text)
        except ValueError:
            msg = r.text
        msg = f"HTTP {r.status_code}: {str(msg)[:500]}"
        kind = REFUSED if r.status_code == 503 else SERVER if r.status_code >= 500 else REJECTED
        raise Failure(kind, msg)

    def ready(self, model: str, version: str) -> bool:
        try:
            status = self._request("GET", self._url(model, version))
        except Failure as f:
            if f.kind == REJECTED:  # 404: the model is not (yet) loaded there
                return False
            raise
        return any(v.get("state") == "AVAILABLE" for v in status.get("model_version_status", []))

    def metadata(self, model: str, version: str) -> dict:
        meta = self._request("GET", self._url(model, version, "/metadata"))
        sigs = meta.get("metadata", {}).get("signature_def", {}).get("signature_def", {})
        sig = sigs.get(self.signature or "serving_default") or {}

        def side(d: dict) -> dict:
            out = {}
            for key, t in d.items():
                shape = t.get("tensor_shape", {})
                dims = None if shape.get("unknown_rank") else [int(x.get("size", -1)) for x in shape.get("dim", [])]
                out[key] = (DT_TO_V2.get(t.get("dtype", ""), t.get("dtype", "")), dims)
            return out
        return {"inputs": side(sig.get("inputs", {})), "outputs": side(sig.get("outputs", {}))}

    def infer(self, model: str, version: str, inputs: dict[str, tuple[np.ndarray, str]],
              outputs: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.signature:
            body["signature_name"] = self.signature
        if self.row_format:
            rows = {len(a) if a.ndim else None for a, _ in inputs.values()}
            if len(rows) != 1 or None in rows:
                raise Failure(REJECTED, "row format needs every input to have the same first dimension "
                                        f"(got {[a.shape for a, _ in inputs.values()]})")
            n = rows.pop()
            body["instances"] = [{k: _json_value(a[i]) for k, (a, _) in inputs.items()} for i in range(n)]
        else:
            body["inputs"] = {k: _json_value(a) for k, (a, _) in inputs.items()}
        res = self._request("POST", self._url(model, version, ":predict"), json=body)
        if self.row_format:
            preds = res.get("predictions")
            if not isinstance(preds, list):
                raise Failure(SERVER, f"answer has no 'predictions' list: {str(res)[:200]}")
            if len(outputs) == 1 and not (preds and isinstance(preds[0], dict)):
                return {outputs[0]: preds}
            return {n: [p[n] for p in preds] for n in outputs}
        out = res.get("outputs")
        if out is None:
            raise Failure(SERVER, f"answer has no 'outputs': {str(res)[:200]}")
        if len(outputs) == 1 and not (isinstance(out, dict) and outputs[0] in out):
            return {outputs[0]: out}
        missing = [n for n in outputs if n not in out]
        if missing:
            raise Failure(SERVER, f"answer lacks output(s) {missing} (has {sorted(out)})")
        return {n: out[n] for n in outputs}

    def reset(self) -> None:
        pass  # httpx drops a pooled connection the server closed before reusing it

    def close(self) -> None:
        self._client.close()
