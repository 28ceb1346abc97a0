"""Who reaches the web app and where: API keys, CORS, the Origin and Host checks, the page's
headers, mounting under a prefix."""
from __future__ import annotations

from fastapi.testclient import TestClient

from modulespack.serve import create_app


def test_api_keys(graph_dir):
    app = create_app(graph_dir / "arith.yaml", api_keys=["k1", "k2"])
    c = TestClient(app)
    run = {"inputs": {"a": 1, "b": 2}}
    r = c.post("/graphs/arith/run", json=run)
    assert r.status_code == 401 and "API key" in r.json()["error"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert c.post("/graphs/arith/run", json=run, headers={"X-API-Key": "wrong"}).status_code == 401
    assert c.post("/graphs/arith/run", json=run, headers={"X-API-Key": "k2"}).status_code == 200
    assert c.post("/graphs/arith/run", json=run, headers={"Authorization": "Bearer k1"}).status_code == 200
    assert c.post("/graphs/nope/run", json=run).status_code == 401       # no graph names without a key
    for path in ("/graphs", "/graphs/arith", "/graphs/arith/diagram", "/metrics"):
        assert c.get(path).status_code == 401, path
        assert c.get(path, headers={"X-API-Key": "k1"}).status_code in (200, 503), path
    assert c.get("/healthz").status_code == 200
    assert c.get("/").status_code == 200
    assert c.get("/openapi.json").status_code == 401                  # the docs list every port: keyed too
    s = c.get("/openapi.json", headers={"X-API-Key": "k1"}).json()
    assert "apiKey" in s["components"]["securitySchemes"]


def test_an_empty_x_api_key_does_not_hide_a_bearer_key(graph_dir):
    c = TestClient(create_app(graph_dir / "arith.yaml", api_keys=["k1"]))
    run = {"inputs": {"a": 1, "b": 2}}
    r = c.post("/graphs/arith/run", json=run, headers={"X-API-Key": "", "Authorization": "Bearer k1"})
    assert r.status_code == 200
    assert c.get("/graphs", headers={"X-API-Key": " ", "Authorization": "bearer k1"}).status_code == 200
    r = c.get("/graphs", headers={"X-API-Key": "", "Authorization": "Bearer "})
    assert r.status_code == 401 and "needed" in r.json()["error"]


def test_readyz_answers_probes_without_a_key_and_names_graphs_only_to_keyed_callers(graph_dir):
    with TestClient(create_app(graph_dir / "arith.yaml", api_keys=["k1"])) as c:
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json() == {"status": "ready"}
        assert c.get("/readyz", headers={"X-API-Key": "wrong"}).json() == {"status": "ready"}
        keyed = c.get("/readyz", headers={"X-API-Key": "k1"}).json()
        assert keyed["status"] == "ready" and keyed["graphs"] == {"arith": True}


def test_the_key_check_is_one_dependency_of_every_keyed_route(graph_dir):
    from fastapi.routing import APIRoute
    app = create_app(graph_dir, api_keys=["k1"])
    keys = app.state.modulespack.keys
    open_routes = {"/", "/healthz", "/readyz", "/docs", "/openapi.json",     # docs: their own dependency
                   "/v2/health/live", "/v2/health/ready"}
    keyed = [r for r in app.routes if isinstance(r, APIRoute) and r.path not in open_routes]
    assert {r.path for r in keyed} >= {"/graphs", "/graphs/{name}", "/graphs/{name}/run", "/graphs/arith/run",
                                       "/metrics", "/graphs/{name}/diagram"}
    # the front doors of other protocols check the same keys themselves, to refuse in their
    # protocol's own error shape (OpenAI's, V2's): they must refuse a caller without a key
    doors = [r for r in keyed if r.path.startswith(("/v1/", "/v2"))]
    for r in keyed:
        if r not in doors:
            assert any(d.call is keys for d in r.dependant.dependencies), r.path
    with TestClient(app) as c:
        for path, method in (("/v1/models", "GET"), ("/v1/audio/speech", "POST"), ("/v2", "GET"),
                             ("/v2/models/arith", "GET"), ("/v2/models/arith/infer", "POST")):
            assert c.request(method, path).status_code == 401, path
        assert c.get("/v2/health/live").status_code == 200      # probes need no key, as /healthz
    import inspect
    from modulespack.serve import routes, run
    assert "check_key" not in inspect.getsource(run) + inspect.getsource(routes)


RUN = {"inputs": {"a": 1, "b": 2}}
EVIL = {"Origin": "https://evil.example"}


def test_cross_site_requests_are_refused_unless_cors_allows_them(graph_dir):
    c = TestClient(create_app(graph_dir / "arith.yaml"))     # no API key: the default
    r = c.post("/graphs/arith/run", data={"a": "1", "b": "2"}, headers=EVIL)    # a cross-site <form>
    assert r.status_code == 403 and r.json()["kind"] == "origin" and "evil.example" in r.json()["error"]
    r = c.post("/graphs/arith/run", files={"a": (None, "1"), "b": (None, "2")}, headers=EVIL)
    assert r.status_code == 403
    assert c.post("/graphs/arith/run", json=RUN, headers=EVIL).status_code == 403
    assert c.get("/graphs", headers={"Origin": "http://testserver.evil.example"}).status_code == 403
    assert c.get("/graphs", headers={"Origin": "http://testserver:8080"}).status_code == 403   # another port
    assert c.get("/graphs", headers={"Origin": "null"}).status_code == 403
    # the page itself (same origin), and clients that send no Origin
    assert c.post("/graphs/arith/run", data={"a": "1", "b": "2"}, headers={"Origin": "http://testserver"}).status_code == 200
    assert c.post("/graphs/arith/run", json=RUN, headers={"Origin": "https://testserver"}).status_code == 200
    assert c.post("/graphs/arith/run", json=RUN).status_code == 200

    c = TestClient(create_app(graph_dir / "arith.yaml", cors_origins=["https://evil.example"]))
    r = c.post("/graphs/arith/run", json=RUN, headers=EVIL)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://evil.example"
    assert c.post("/graphs/arith/run", json=RUN, headers={"Origin": "https://other.example"}).status_code == 403
    c = TestClient(create_app(graph_dir / "arith.yaml", cors_origins="*"))
    assert c.post("/graphs/arith/run", json=RUN, headers=EVIL).status_code == 200


def test_cross_site_posts_without_an_origin_are_refused_by_fetch_metadata_or_referer(graph_dir):
    c = TestClient(create_app(graph_dir / "arith.yaml"), base_url="http://127.0.0.1:8000")
    form = {"content": "a=1&b=2", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}

    def post(client, **headers):
        return client.post("/graphs/arith/run", content=form["content"], headers={**form["headers"], **headers})
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Referer": "https://evil.example/page"}, {"Referer": "http://127.0.0.1:9999/"},
                    {"Referer": "http://localhost:8000/"},
                    {"Sec-Fetch-Site": "cross-site", "Referer": "http://127.0.0.1:8000/"}):
        r = post(c, **headers)
        assert r.status_code == 403 and r.json()["kind"] == "origin", (headers, r.text)
        assert "--cors" in r.json()["error"]
    r = post(c, **{"Sec-Fetch-Site": "cross-site"})
    assert "Sec-Fetch-Site: cross-site" in r.json()["error"]
    assert "evil.example" in post(c, Referer="https://evil.example/page").json()["error"]
    # the server's own page, a typed-in address, tools that send neither, and GETs (links from elsewhere)
    for headers in ({"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
                    {"Referer": "http://127.0.0.1:8000/"}, {"Referer": "https://127.0.0.1:8000/?x"}, {}):
        assert post(c, **headers).status_code == 200, headers
    assert c.get("/", headers={"Sec-Fetch-Site": "cross-site", "Referer": "https://evil.example/"}).status_code == 200
    # unless --cors allows that origin
    c = TestClient(create_app(graph_dir / "arith.yaml", cors_origins=["https://evil.example"]),
                   base_url="http://127.0.0.1:8000")
    assert post(c, Referer="https://evil.example/page").status_code == 200
    assert post(c, **{"Sec-Fetch-Site": "cross-site", "Referer": "https://evil.example/page"}).status_code == 200
    assert post(c, **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert post(c, Referer="https://other.example/").status_code == 403
    c = TestClient(create_app(graph_dir / "arith.yaml", cors_origins="*"), base_url="http://127.0.0.1:8000")
    assert post(c, **{"Sec-Fetch-Site": "cross-site"}).status_code == 200


def test_a_wildcard_bind_answers_addresses_and_this_machines_names_not_any_name(graph_dir):
    import socket

    from modulespack.serve.access import default_allowed_hosts
    for bind in ("0.0.0.0", "::"):
        hosts = default_allowed_hosts(bind)
        assert "*" not in hosts and "localhost" in hosts and socket.gethostname().lower() in hosts
    c = TestClient(create_app(graph_dir / "arith.yaml", allowed_hosts=default_allowed_hosts("0.0.0.0")))
    for host in ("127.0.0.1", "192.168.1.20:8000", "10.0.0.7", "[::1]:8000", "[fe80::1]", "localhost:8000",
                 socket.gethostname(), socket.getfqdn() + ":8000"):
        assert c.get("/graphs", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8000", "192.168.1.20.evil.example", "1.2.3", "[not-ip]"):
        r = c.get("/graphs", headers={"Host": host})
        assert r.status_code == 400 and r.json()["kind"] == "host", host
        assert "any IP address" in r.json()["error"] and "<any-ip>" not in r.json()["error"]
    c = TestClient(create_app(graph_dir / "arith.yaml", allowed_hosts=default_allowed_hosts("0.0.0.0") + ["*"]))
    assert c.get("/graphs", headers={"Host": "evil.example"}).status_code == 200


def test_host_check(graph_dir):
    from modulespack.serve.access import default_allowed_hosts
    assert default_allowed_hosts("127.0.0.1") == ["127.0.0.1", "localhost", "[::1]"]
    assert default_allowed_hosts("10.1.2.3") == ["10.1.2.3"]
    app = create_app(graph_dir / "arith.yaml", allowed_hosts=default_allowed_hosts("127.0.0.1") + ["*.example.org"])
    c = TestClient(app, base_url="http://127.0.0.1:8000")
    for host in ("127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "speech.example.org"):
        assert c.get("/graphs", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "example.org", "[::2]:8000", "a b"):
        r = c.get("/graphs", headers={"Host": host})
        assert r.status_code == 400, host
        assert r.json()["kind"] == "host" and "--allowed-host" in r.json()["error"]
    assert c.get("/", headers={"Host": "rebound.example:8000"}).status_code == 400
    # None (the default of create_app, for an app mounted in another): any Host
    assert TestClient(create_app(graph_dir / "arith.yaml")).get("/graphs", headers={"Host": "x.y"}).status_code == 200


def test_cli_allowed_hosts_follow_the_bind_address(graph_dir):
    import argparse
    from modulespack.serve.cli import add_parser, options_from_args
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    opts = options_from_args(parser.parse_args(["serve", str(graph_dir)]))
    assert opts["allowed_hosts"] == ["127.0.0.1", "localhost", "[::1]"]
    opts = options_from_args(parser.parse_args(["serve", str(graph_dir), "--host", "0.0.0.0"]))
    assert "*" not in opts["allowed_hosts"] and "localhost" in opts["allowed_hosts"]
    opts = options_from_args(parser.parse_args(["serve", str(graph_dir), "--host", "::", "--allowed-host", "*"]))
    assert "*" in opts["allowed_hosts"]
    opts = options_from_args(parser.parse_args(["serve", str(graph_dir), "--allowed-host", "speech.lan",
                                                "--allowed-host", "*.corp.example"]))
    assert opts["allowed_hosts"][-2:] == ["speech.lan", "*.corp.example"]


def test_the_page_may_not_be_framed_and_loads_only_its_own_files(graph_dir):
    c = TestClient(create_app(graph_dir / "arith.yaml"))
    page = c.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    for path in ("/graphs", "/docs", "/static/app.js"):
        assert c.get(path).headers["x-frame-options"] == "DENY", path


def test_cors_off_unless_configured(graph_dir):
    hdr = {"Origin": "https://example.org"}
    c = TestClient(create_app(graph_dir / "arith.yaml"))
    assert "access-control-allow-origin" not in c.get("/graphs", headers=hdr).headers
    c = TestClient(create_app(graph_dir / "arith.yaml", cors_origins=["https://example.org"]))
    r = c.get("/graphs", headers=hdr)
    assert r.headers["access-control-allow-origin"] == "https://example.org"
    r = c.options("/graphs/arith/run", headers={**hdr, "Access-Control-Request-Method": "POST",
                                                "Access-Control-Request-Headers": "x-api-key"})
    assert r.status_code == 200


def test_mounted_under_a_prefix(graph_dir):
    from fastapi import FastAPI
    parent = FastAPI()

    @parent.get("/hello")
    def hello():
        return {"hi": 1}

    parent.mount("/speech", create_app(graph_dir / "arith.yaml"))
    c = TestClient(parent)
    assert c.get("/hello").json() == {"hi": 1}
    assert c.get("/speech/graphs").json()[0]["name"] == "arith"
    r = c.post("/speech/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}})
    assert r.json()["outputs"]["result"] == 1.0
    assert c.get("/speech/").status_code == 200
    assert c.get("/speech/healthz").json() == {"status": "ok"}
    assert "'/speech/openapi.json'" in c.get("/speech/docs").text
