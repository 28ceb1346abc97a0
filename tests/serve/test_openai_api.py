"""The OpenAI audio API, called with the real `openai` client against a real server (uvicorn on
127.0.0.1 in a thread, behind an API key): models, transcriptions in every response format (the same
text as a Session run of the graph), speech in every format, voices, speed, and OpenAI's error shape."""
from __future__ import annotations

import io
import shutil
import subprocess
import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from servers import app_in_thread

openai = pytest.importorskip("openai", reason="the openai client is not installed (the dev extra)")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed (the serve extra)")
sf = pytest.importorskip("soundfile")
pytest.importorskip("pocketsphinx")
pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")

# not imported from conftest: with the whole suite in one process, `conftest` may name another folder's
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"


KEY = "openai-test-key"
SENTENCE = "hello world, this is a test."
HEARD = "hello world this is a test"  # what pocketsphinx hears in flite's rms voice saying SENTENCE

GRAPHS = {
    # the example graphs without their examples (no warm-up runs to wait for)
    "asr.yaml": None, "tts.yaml": None,
    "voices.yaml": """
        name: voices
        description: flite with OpenAI voice names mapped onto its own
        inputs:
          text: str
          voice: {dtype: str, default: slt}
        nodes:
          - {name: flite, module: flite, inputs: {text: $text, voice: $voice}}
        outputs: {wav: flite/wav, sr: flite/sr}
        openai: {voices: {alloy: rms, nova: slt}}
    """,
    "emphasis.yaml": """
        name: emphasis
        description: audio in, audio out -- neither a transcription nor a speech graph
        inputs:
          wav: {dtype: float32, shape: [null]}
          sr: int
        nodes:
          - {name: pre, module: preemphasis, inputs: {wav: $wav}}
        outputs: {wav: pre/wav}
    """,
    "hidden.yaml": """
        name: hidden
        inputs: {text: str}
        nodes:
          - {name: flite, module: flite, inputs: {text: $text}}
        outputs: {wav: flite/wav, sr: flite/sr}
        openai: {task: none}
    """,
}


def _write_graphs(folder: Path) -> None:
    import yaml
    for name, text in GRAPHS.items():
        if text is None:
            data = yaml.safe_load((EXAMPLES / name).read_text())
            data.pop("examples", None)
            (folder / name).write_text(yaml.safe_dump(data, sort_keys=False))
        else:
            (folder / name).write_text(textwrap.dedent(text))


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    from modulespack.serve.access import default_allowed_hosts
    from modulespack.serve.app import create_app

    folder = tmp_path_factory.mktemp("openai-graphs")
    _write_graphs(folder)
    app = create_app(folder, api_keys=[KEY], timeout_s=60, allowed_hosts=default_allowed_hosts("127.0.0.1"))
    with app_in_thread(app, timeout_s=60) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url):
    c = openai.OpenAI(base_url=base_url + "/v1", api_key=KEY, max_retries=0, timeout=60)
    yield c
    c.close()


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    """SENTENCE spoken by flite's rms voice (the one pocketsphinx hears best), made here."""
    path = tmp_path_factory.mktemp("speech") / "rms_hello.wav"
    subprocess.run(["flite", "-voice", "rms", "-t", SENTENCE, "-o", str(path)], check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def session_text(speech_wav) -> str:
    """What `modulespack run` (a Session of the graph) hears in speech_wav."""
    from modulespack.core import Session
    from modulespack.io import read_wav
    x, sr = read_wav(speech_wav)
    with Session(EXAMPLES / "asr.yaml") as s:
        return s.run({"wav": x, "sr": sr}).outputs["text"]


def _error(exc: openai.APIStatusError) -> dict:
    body = exc.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


# ============================================================================ models


def test_models_lists_the_graphs_that_fit(client):
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {"asr", "tts", "voices"}  # not emphasis (fits neither), not hidden (task: none)
    assert models["asr"].object == "model" and models["asr"].owned_by == "modulespack"
    tts = client.models.retrieve("tts")
    assert tts.id == "tts" and tts.task == "speech" and "rms" in tts.voices and tts.default_voice == "slt"
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("emphasis")
    assert "not an audio model" in _error(e.value)["message"]


# ============================================================================ transcriptions


def test_transcription_is_what_a_session_hears(client, speech_wav, session_text):
    assert session_text == HEARD  # the recogniser gets this one right: a meaningful comparison
    with open(speech_wav, "rb") as f:
        got = client.audio.transcriptions.create(model="asr", file=f)
    assert got.text == session_text
    text = client.audio.transcriptions.create(model="asr", file=("a.wav", speech_wav.read_bytes(), "audio/wav"),
                                              response_format="text", language="en", prompt="ignored",
                                              temperature=0.2)
    assert text.strip() == session_text


def test_transcription_formats_with_times(client, speech_wav, session_text):
    data = speech_wav.read_bytes()
    duration = sf.info(str(speech_wav)).duration
    v = client.audio.transcriptions.create(model="asr", file=("a.wav", data), response_format="verbose_json",
                                           timestamp_granularities=["word", "segment"])
    assert v.text == session_text and abs(v.duration - duration) < 0.01 and v.language == "en"  # asr.yaml says
    assert [w.word for w in v.words] == session_text.split()
    starts = [w.start for w in v.words]
    assert starts == sorted(starts) and 0 <= starts[0] and v.words[-1].end <= duration + 0.01
    assert " ".join(s.text for s in v.segments) == session_text
    srt = client.audio.transcriptions.create(model="asr", file=("a.wav", data), response_format="srt")
    lines = srt.strip().splitlines()
    assert lines[0] == "1" and " --> " in lines[1] and lines[1].startswith("00:00:0") and "," in lines[1]
    assert " ".join(ln for ln in lines if ln and not ln.isdigit() and "-->" not in ln) == session_text
    vtt = client.audio.transcriptions.create(model="asr", file=("a.wav", data), response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n") and "." in vtt.splitlines()[2] and session_text.split()[0] in vtt


def test_flac_upload_is_transcribed(client, speech_wav, session_text):
    x, sr = sf.read(str(speech_wav), dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="FLAC")
    got = client.audio.transcriptions.create(model="asr", file=("speech.flac", buf.getvalue(), "audio/flac"))
    assert got.text == session_text


def test_transcription_errors(client, speech_wav):
    with pytest.raises(openai.BadRequestError) as e:
        client.audio.transcriptions.create(model="asr", file=("notes.txt", b"not audio at all", "text/plain"))
    err = _error(e.value)
    assert err["param"] == "file" and err["type"] == "invalid_request_error" and "notes.txt" in err["message"]
    with pytest.raises(openai.NotFoundError) as e:
        client.audio.transcriptions.create(model="whisper-9", file=("a.wav", speech_wav.read_bytes()))
    assert _error(e.value)["code"] == "model_not_found" and "asr" in _error(e.value)["message"]
    for model in ("tts", "emphasis"):  # served, but not transcription graphs
        with pytest.raises(openai.BadRequestError) as e:
            client.audio.transcriptions.create(model=model, file=("a.wav", speech_wav.read_bytes()))
        assert _error(e.value)["param"] == "model" and model in _error(e.value)["message"]
    with pytest.raises(openai.BadRequestError) as e:
        client.audio.transcriptions.create(model="asr", file=("a.wav", speech_wav.read_bytes()),
                                           response_format="xml")  # type: ignore[arg-type]
    assert _error(e.value)["param"] == "response_format"


# ============================================================================ speech


def _wav(data: bytes) -> tuple[np.ndarray, int]:
    x, sr = sf.read(io.BytesIO(data), dtype="float32")
    return x, sr


def test_speech_wav_is_readable_and_heard(client, session_text):
    audio = client.audio.speech.create(model="tts", voice="rms", input=SENTENCE, response_format="wav").read()
    x, sr = _wav(audio)
    assert sr == 16000 and len(x) > sr // 2 and np.abs(x).max() > 0.05
    heard = client.audio.transcriptions.create(model="asr", file=("tts.wav", audio, "audio/wav"))
    assert heard.text == session_text  # the same voice and sentence, made by the server


@pytest.mark.parametrize("fmt", ["flac", "opus", "mp3", "pcm"])
def test_speech_formats(client, fmt):
    with client.audio.speech.with_streaming_response.create(model="tts", voice="slt", input="good morning",
                                                            response_format=fmt) as r:
        data = r.read()
        assert r.headers["content-type"].startswith("audio/")
    if fmt == "pcm":  # OpenAI's: 16-bit little-endian mono at 24 kHz, no header
        x = np.frombuffer(data, "<i2")
        assert len(data) % 2 == 0 and 0.3 < len(x) / 24000 < 5 and np.abs(x).max() > 1000
    else:
        x, sr = _wav(data)
        assert len(x) / sr > 0.3 and np.abs(x).max() > 0.05


def test_voices(client):
    def say(model, voice):
        return client.audio.speech.create(model=model, voice=voice, input="good morning", response_format="wav").read()
    slt, rms = say("tts", "slt"), say("tts", "rms")
    assert slt != rms
    assert say("tts", "alloy") == slt  # an OpenAI voice the graph does not map: its default voice (slt)
    assert say("voices", "alloy") == rms and say("voices", "nova") == slt  # the graph file's mapping
    with pytest.raises(openai.BadRequestError) as e:
        say("tts", "robot")
    err = _error(e.value)
    assert err["param"] == "voice" and "rms" in err["message"]


def test_speed(client):
    def seconds(speed):
        data = client.audio.speech.create(model="tts", voice="slt", input="the weather is nice today",
                                          response_format="wav", speed=speed).read()
        x, sr = _wav(data)
        return len(x) / sr
    normal, fast = seconds(1.0), seconds(2.0)
    assert abs(fast / normal - 0.5) < 0.05
    with pytest.raises(openai.BadRequestError) as e:
        seconds(5.0)
    assert _error(e.value)["param"] == "speed"


def test_speech_errors(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.audio.speech.create(model="asr", voice="slt", input="hello")
    assert _error(e.value)["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="tts-1", voice="alloy", input="hello")
    with pytest.raises(openai.BadRequestError) as e:
        client.audio.speech.create(model="tts", voice="slt", input="   ")
    assert _error(e.value)["param"] == "input"
    with pytest.raises(openai.BadRequestError) as e:
        client.audio.speech.create(model="tts", voice="slt", input="hello", response_format="aac")
    assert _error(e.value)["param"] == "response_format"
    with pytest.raises(openai.APIStatusError) as e:  # the server's text limit (5,000 characters by default)
        client.audio.speech.create(model="tts", voice="slt", input="word " * 2000)
    assert e.value.status_code == 413 and _error(e.value)["param"] == "input"


# ============================================================================ keys, metrics


def test_api_key_is_required(base_url):
    for key in ("wrong-key", ""):
        c = openai.OpenAI(base_url=base_url + "/v1", api_key=key or "unused", max_retries=0,
                          default_headers={} if key else {"Authorization": ""})
        with pytest.raises(openai.AuthenticationError) as e:
            c.models.list()
        assert _error(e.value)["code"] == "invalid_api_key"
        c.close()


def test_runs_are_counted_in_the_metrics(base_url, client):
    client.audio.speech.create(model="tts", voice="slt", input="hello", response_format="wav").read()
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tts", voice="robot", input="hello")
    req = urllib.request.Request(base_url + "/metrics", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
    assert 'modulespack_requests_total{graph="tts",status="200"}' in text
    assert 'modulespack_requests_total{graph="tts",status="400"}' in text  # the refused voice
