"""/docs works offline: Swagger UI's files come from the server itself (the swagger-ui-bundle-v2
package), never from a CDN, at the top level and under a mount prefix; there is no /redoc."""
from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from modulespack.serve import create_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"
ASSET_RE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def _assets(html: str) -> list[str]:
    return ASSET_RE.findall(html)


def _check_docs(c: TestClient, prefix: str = "") -> None:
    r = c.get(prefix + "/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "http://" not in html and "https://" not in html and "//cdn" not in html, html
    assert f"'{prefix}/openapi.json'" in html
    urls = _assets(html)
    js = [u for u in urls if u.endswith(".js")]
    css = [u for u in urls if u.endswith(".css")]
    assert js and css, urls
    for u in urls:
        assert u.startswith(prefix + "/docs-assets/"), u        # local, and under the mount prefix
        a = c.get(u)
        assert a.status_code == 200, u
    for u in js:
        a = c.get(u)
        assert "javascript" in a.headers["content-type"] and "SwaggerUIBundle" in a.text, u
        # FastAPI writes OpenAPI 3.1, which Swagger UI reads from version 5 on (4 says "Unable to render")
        m = re.search(r'PACKAGE_VERSION:"(\d+)\.', a.text)
        assert m and int(m[1]) >= 5, "the served Swagger UI is older than 5: it cannot read OpenAPI 3.1"
    for u in css:
        a = c.get(u)
        assert a.headers["content-type"].startswith("text/css") and ".swagger-ui" in a.text, u


def test_docs_page_uses_only_local_assets(client):
    _check_docs(client)
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_no_redoc(client):
    assert client.get("/redoc").status_code == 404


def test_docs_under_a_mount_prefix(graph_dir):
    from fastapi import FastAPI
    parent = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    parent.mount("/speech", create_app(graph_dir / "arith.yaml"))
    c = TestClient(parent)
    _check_docs(c, "/speech")
    assert c.get("/speech/openapi.json").json()["servers"] == [{"url": "/speech"}]   # "Try it out" goes there
    assert "servers" not in TestClient(create_app(graph_dir / "arith.yaml")).get("/openapi.json").json()


def test_private_docs_need_the_key_but_swagger_files_do_not(graph_dir):
    c = TestClient(create_app(graph_dir / "arith.yaml", api_keys=["k"], docs_public=False))
    assert c.get("/docs").status_code == 401
    assert c.get("/openapi.json").status_code == 401
    _check_docs(TestClient(c.app, headers={"X-API-Key": "k"}))


def test_a_graphs_examples_are_the_json_body_examples_in_the_docs():
    c = TestClient(create_app([EXAMPLES / "tts.yaml", EXAMPLES / "asr.yaml"]))
    paths = c.get("/openapi.json").json()["paths"]
    body = paths["/graphs/tts/run"]["post"]["requestBody"]["content"]["application/json"]
    assert body["examples"]["hello"] == {"value": {"inputs": {"text": "hello there, this is a test."}}}
    assert "examples" not in paths["/graphs/asr/run"]["post"]["requestBody"]["content"]["application/json"]
    assert {"400", "403"} <= set(paths["/graphs/tts/run"]["post"]["responses"])
