"""Module kinds that call models on model servers: `module: remote` (node.py) speaks the Open
Inference Protocol over HTTP (v2_http.py) and gRPC (v2_grpc.py) and TF-Serving's REST API
(tfserving.py), with a pooled client per endpoint, balancing, health and retries (endpoints.py).

The protocol clients (tritonclient, httpx) load only when a remote node is built.
"""
