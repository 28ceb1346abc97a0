"""The ready-to-paste calls (`serve.snippets`): per graph and front door, filled with the address the
client used, never with a key; pasted into a shell and Python against a real server they work; the
demo page shows them in its "Use it from..." panel."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from servers import app_in_thread

pytest.importorskip("uvicorn", reason="uvicorn is not installed (the serve extra)")

# not imported from conftest: with the whole suite in one process, `conftest` may name another folder's
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"


KEY = "snippet-test-key"
CHROMIUM = "/usr/bin/chromium"


def _snippets(client, name: str, **headers) -> list[dict]:
    r = client.get(f"/graphs/{name}/snippets", headers={"Authorization": f"Bearer {KEY}", **headers})
    assert r.status_code == 200, r.text
    return r.json()["snippets"]


@pytest.fixture(scope="module")
def keyed_client(graph_dir):
    from fastapi.testclient import TestClient

    from modulespack.serve import create_app
    app = create_app([EXAMPLES / "asr.yaml", EXAMPLES / "tts.yaml", graph_dir / "arith.yaml"], api_keys=[KEY])
    return TestClient(app, base_url="http://speech.example:8123")


def test_calls_per_front_door_with_the_clients_address(keyed_client):
    asr = _snippets(keyed_client, "asr")
    assert [(s["door"], s["title"]) for s in asr] == [("native", "curl"), ("openai", "curl"),
                                                      ("openai", "Python (openai)"), ("v2", "Python (tritonclient)")]
    code = "\n".join(s["code"] for s in asr)
    assert "http://speech.example:8123/graphs/asr/run" in code
    assert "http://speech.example:8123/v1/audio/transcriptions" in code
    assert 'base_url="http://speech.example:8123/v1"' in code
    assert "rms_hello.wav" in code  # the graph's first example's file
    assert KEY not in code and "$MODULESPACK_API_KEY" in code and 'os.environ["MODULESPACK_API_KEY"]' in code
    tts = "\n".join(s["code"] for s in _snippets(keyed_client, "tts"))
    assert '"voice": "slt"' in tts and "hello there, this is a test." in tts  # its default voice and example
    assert [s["door"] for s in _snippets(keyed_client, "arith")] == ["native", "v2"]  # not an audio model
    triton = asr[-1]["code"]
    assert 'InferenceServerClient(url="speech.example:8123")' in triton and 'sf.read("rms_hello.wav"' in triton
    assert 'InferInput("sr", list(x.shape), "INT64")' in triton and '"Bearer " + os.environ' in triton


def test_home_assistant_is_given_the_voice_names_wyoming_offers(tmp_path):
    """Two graphs with the same voices: Wyoming names them graph:voice, and so does the snippet."""
    from fastapi.testclient import TestClient

    from modulespack.serve import create_app
    tts = (EXAMPLES / "tts.yaml").read_text()
    (tmp_path / "tts.yaml").write_text(tts)
    (tmp_path / "roundtrip.yaml").write_text(tts.replace("name: tts", "name: roundtrip"))
    app = create_app(tmp_path, wyoming="tcp://127.0.0.1:10300")
    try:
        (ha,) = [s["code"] for s in TestClient(app).get("/graphs/roundtrip/snippets").json()["snippets"]
                 if s["door"] == "wyoming"]
    finally:
        app.state.modulespack.shutdown()
    assert "Voice: roundtrip:slt (also roundtrip:rms" in ha and " slt" not in ha.replace("roundtrip:slt", "")


def test_snippets_need_the_key_and_a_graph(keyed_client):
    assert keyed_client.get("/graphs/asr/snippets").status_code == 401
    assert keyed_client.get("/graphs/nope/snippets", headers={"Authorization": f"Bearer {KEY}"}).status_code == 404


def test_home_assistant_settings_name_the_wyoming_address(keyed_client):
    from modulespack.serve.snippets import context, graph_snippets
    state = keyed_client.app.state.modulespack
    asr, tts = state.graphs["asr"], state.graphs["tts"]

    def ha(entry, uri, host="192.168.1.5"):
        ctx = context(entry, [], "http://x/", False, uri, host)
        return [s.code for s in graph_snippets(ctx) if s.door == "wyoming"]
    assert ha(asr, None) == [] and ha(asr, "unix:///run/wyoming.sock") == []
    (code,) = ha(asr, "tcp://0.0.0.0:10300")  # a wildcard address: the host the client reached us by
    assert "Host: 192.168.1.5\n" in code and "Port: 10300\n" in code and "Speech-to-text: asr" in code
    (code,) = ha(tts, "tcp://10.0.0.7:10301")
    assert "Host: 10.0.0.7\n" in code and "Text-to-speech: tts" in code and "Voice: slt (also rms" in code


def test_another_front_door_adds_its_calls(keyed_client):
    from modulespack.serve import snippets
    maker = snippets.register(lambda ctx: [snippets.Snippet("v2", "tritonclient", "python",
                                                            f"# {ctx.base_url} {ctx.entry.name}\n")])
    try:
        last = _snippets(keyed_client, "arith")[-1]
        assert last == {"door": "v2", "title": "tritonclient", "language": "python",
                        "code": "# http://speech.example:8123 arith\n"}
    finally:
        snippets._MAKERS.remove(maker)


# ============================================================================ pasted, they work


@pytest.fixture(scope="module")
def server(graph_dir):
    """asr, tts (with their examples) and arith behind a key, under uvicorn on 127.0.0.1; yields the base URL."""
    from modulespack.serve.access import default_allowed_hosts
    from modulespack.serve.app import create_app
    app = create_app([EXAMPLES / "asr.yaml", EXAMPLES / "tts.yaml", graph_dir / "arith.yaml"], api_keys=[KEY],
                     allowed_hosts=default_allowed_hosts("127.0.0.1"))
    with app_in_thread(app, timeout_s=90) as url:
        yield url


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("flite") is None, reason="needs curl and flite")
def test_pasted_calls_work(server, tmp_path):
    pytest.importorskip("openai")
    import soundfile as sf
    shutil.copy(EXAMPLES / "audio" / "rms_hello.wav", tmp_path / "rms_hello.wav")
    env = {**os.environ, "MODULESPACK_API_KEY": KEY}
    for graph in ("asr", "tts", "arith"):
        req = urllib.request.Request(f"{server}/graphs/{graph}/snippets", headers={"X-API-Key": KEY})
        with urllib.request.urlopen(req, timeout=10) as r:
            snippets = json.loads(r.read())["snippets"]
        for s in snippets:
            cmd = ["bash", "-c", s["code"]] if s["language"] == "bash" else [sys.executable, "-c", s["code"]]
            done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"{graph} {s['title']}: {done.stderr}"
            if graph == "asr":
                out = done.stdout
                assert "hello world this is a test" in out, f"{s['title']}: {out!r}"
            if graph == "arith" and s["door"] == "v2":
                assert "result: [1.]" in done.stdout and "doubled: [6.]" in done.stdout, done.stdout
        if graph == "tts":
            for wav in ("tts.wav", "speech.wav"):
                x, sr = sf.read(str(tmp_path / wav))
                assert sr == 16000 and len(x) > sr // 2


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed")
def test_the_page_shows_the_calls(server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + "/#graph=tts")
            page.fill("#api-key", KEY)  # the server asks for a key: the page shows its field after the 401
            page.click("#api-key-form button[type=submit]")
            page.wait_for_selector("#snippets details.snippet[data-door=openai]", timeout=30_000)
            first = page.locator("#snippets details.snippet").first
            assert first.get_attribute("open") is not None
            text = page.inner_text("#snippets")
            assert f"{server}/graphs/tts/run" in text and "OpenAI audio API" in text and KEY not in text
            assert not errors, errors
        finally:
            browser.close()
