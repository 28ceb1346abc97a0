"""Examples in graph files (`examples:`): listed for the page, their files served, checked at
start-up, and the first one run once (threads: in the server; processes: in every worker) before
/readyz says ready."""
from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modulespack.serve import GraphLoadError, create_app

REPO = Path(__file__).resolve().parents[2]

COUNTER = '''
import os
import time
from modulespack import Module, Port


class Count(Module):
    """y = x; appends this process's pid to `log` on every run (after `seconds`)."""
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def __init__(self, log: str, seconds: float = 0.0):
        self.log, self.seconds = log, seconds

    def run(self, x):
        time.sleep(self.seconds)
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\\n")
        return {"y": x}
'''


def _write(d: Path, name: str, text: str, extra: str = "") -> Path:
    path = d / f"{name}.yaml"
    path.write_text(textwrap.dedent(text) + extra)
    return path


def _counted(tmp_path: Path, seconds: float = 0.0) -> tuple[Path, Path]:
    (tmp_path / "mods").mkdir(exist_ok=True)
    (tmp_path / "mods" / "count.py").write_text(COUNTER)
    log = tmp_path / "runs.log"
    graph = _write(tmp_path, "counted", f"""
        module_paths: [mods]
        inputs: {{x: float}}
        nodes:
          - name: count
            module: Count
            params: {{log: "{log}", seconds: {seconds}}}
            inputs: {{x: $x}}
        outputs: {{y: count/y}}
        examples:
          one: {{x: 1.0}}
          two: {{x: 2.0}}
        """)
    return graph, log


def _wait_ready(c: TestClient, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = c.get("/readyz")
        if r.status_code == 200:
            return r.json()
        assert r.status_code == 503 and r.json()["status"] == "starting", r.text
        assert time.monotonic() < deadline, r.text
        time.sleep(0.05)


def test_examples_are_listed_and_their_files_served():
    app = create_app([REPO / "examples" / "graphs" / "tts.yaml", REPO / "examples" / "graphs" / "asr.yaml"])
    c = TestClient(app)
    graphs = {g["name"]: g for g in c.get("/graphs").json()}
    tts = graphs["tts"]["examples"]
    assert tts[0] == {"name": "hello", "inputs": {"text": "hello there, this is a test."}, "files": {}}
    assert tts[1]["inputs"] == {"text": "the weather is nice today.", "voice": "rms"}
    asr = graphs["asr"]["examples"][0]
    assert asr["inputs"] == {} and set(asr["files"]) == {"wav"}
    f = asr["files"]["wav"]
    assert f["name"] == "rms_hello.wav" and 0 < f["bytes"] < 100_000
    r = c.get("/" + f["url"])
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav" and r.content[:4] == b"RIFF"
    assert len(r.content) == f["bytes"]
    assert c.get("/graphs/asr/examples/nope/wav").status_code == 404
    assert c.get("/graphs/nope/examples/x/wav").status_code == 404
    # an example file can be sent back as is: the run works
    run = c.post("/graphs/asr/run", files={"wav": ("x.wav", r.content, "audio/wav")})
    assert run.status_code == 200 and "hello" in run.json()["outputs"]["text"]


def test_an_example_files_name_is_cleaned_as_output_file_names_are(tmp_path, graph_dir, sine_wav):
    from modulespack.io.audio_ports import file_stem
    (tmp_path / "modules").symlink_to(graph_dir / "modules")
    (tmp_path / "..héllo wörld.wav").write_bytes(sine_wav(0.1)[0])
    graph = _write(tmp_path, "gainex", """
        module_paths: [modules]
        inputs:
          wav: {dtype: float32, shape: [null]}
          sr: int
        nodes:
          - {name: g, module: Gain, inputs: {wav: $wav, sr: $sr}}
        outputs: {wav: g/wav}
        examples:
          odd name: {wav: {file: "..héllo wörld.wav"}}
        """)
    c = TestClient(create_app(graph))
    url = c.get("/graphs").json()[0]["examples"][0]["files"]["wav"]["url"]
    r = c.get("/" + url)
    assert r.status_code == 200 and r.content[:4] == b"RIFF"
    # one cleaner (modulespack.io.audio_ports) for every file name: ASCII, and not a hidden file
    assert r.headers["content-disposition"] == 'inline; filename="h_llo_w_rld.wav"' == \
        f'inline; filename="{file_stem("..héllo wörld.wav")}"'


def test_the_first_example_runs_before_readyz_says_ready(tmp_path):
    graph, log = _counted(tmp_path, seconds=0.5)
    with TestClient(create_app(graph, timeout_s=20)) as c:
        first = c.get("/readyz")
        assert first.status_code == 503 and first.json()["status"] == "starting"
        assert _wait_ready(c) == {"status": "ready", "graphs": {"counted": True}}
        assert len(log.read_text().split()) == 1                  # the first example, once
        assert 'modulespack_graph_ready{engine="thread",graph="counted"} 1.0' in c.get("/metrics").text


def test_a_mounted_app_warms_up_when_readyz_is_first_asked(tmp_path):
    graph, log = _counted(tmp_path)
    c = TestClient(create_app(graph))       # no `with`: no lifespan, as when mounted in another app
    assert not log.exists()
    _wait_ready(c)
    assert len(log.read_text().split()) == 1


def test_process_workers_each_run_the_first_example_before_ready(tmp_path):
    graph, log = _counted(tmp_path, seconds=0.2)
    app = create_app(graph, executor="process", process_workers=2, timeout_s=30)
    with TestClient(app) as c:
        _wait_ready(c)
        pids = log.read_text().split()
        assert len(pids) == 2 and len(set(pids)) == 2            # every worker, once
        assert c.post("/graphs/counted/run", json={"inputs": {"x": 3}}).json()["outputs"] == {"y": 3.0}


def test_a_failing_example_is_logged_and_named_to_keyed_callers(tmp_path, graph_dir, caplog):
    (tmp_path / "modules").symlink_to(graph_dir / "modules")
    graph = _write(tmp_path, "boomex", """
        module_paths: [modules]
        inputs: {x: float}
        nodes:
          - {name: kaboom, module: Boom, inputs: {x: $x}}
        outputs: {y: kaboom/y}
        examples:
          fails: {x: 1}
        """)
    with TestClient(create_app(graph, api_keys=["k"])) as c:
        assert _wait_ready(c) == {"status": "ready"}
        body = c.get("/readyz", headers={"X-API-Key": "k"}).json()
        assert "ZeroDivisionError" in body["examples_failed"]["boomex"]
    assert any("example 'fails' failed" in r.getMessage() for r in caplog.records)


def test_bad_examples_stop_start_up(tmp_path):
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "not.wav").write_bytes(b"not a wav at all")
    base = """
        inputs:
          wav: {dtype: float32, shape: [null]}
          sr: int
        nodes:
          - {name: rs, module: resample, params: {target_sr: 8000}, inputs: {wav: $wav, sr: $sr}}
        outputs: {wav: rs/wav}
        """
    _write(tmp_path, "bad_wav", base, "examples:\n  broken: {wav: {file: audio/not.wav}}\n")
    with pytest.raises(GraphLoadError) as ei:
        create_app(tmp_path / "bad_wav.yaml")
    assert "example 'broken'" in str(ei.value) and "not.wav" in str(ei.value)

    _write(tmp_path, "missing", base, "examples:\n  empty: {}\n")
    with pytest.raises(GraphLoadError, match="example 'empty': upload a WAV for 'wav'"):
        create_app(tmp_path / "missing.yaml")

    _write(tmp_path, "unknown", base, "examples:\n  typo:\n    wave: {file: audio/not.wav}\n")
    with pytest.raises(GraphLoadError) as ei:
        create_app(tmp_path / "unknown.yaml")
    p = ei.value.problems[0]
    assert "unknown input 'wave'" in p.message and p.line == 10 and p.kind == "example"
