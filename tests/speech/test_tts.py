"""Flite and EspeakNG: real synthesis through the Debian programs, errors at build and run time."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

import modulespack as mp
from modulespack.core.errors import GraphError, NodeError
from modulespack.speech.tts import FLITE_VOICES, EspeakNG, Flite

GRAPHS = Path(__file__).resolve().parents[2] / "examples" / "graphs"

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def write_graph(path: Path, nodes: list[dict], inputs: dict, outputs: dict) -> Path:
    path.write_text(yaml.safe_dump({"name": path.stem, "inputs": inputs, "nodes": nodes, "outputs": outputs}))
    return path


@pytest.fixture(scope="module")
def tts_session():
    with mp.Session(GRAPHS / "tts.yaml") as s:
        yield s


@needs_flite
@pytest.mark.parametrize("voice", FLITE_VOICES)
def test_flite_voice_rate_and_duration(voice, sentences):
    tts = Flite(voice=voice)
    tts.setup()
    short, long = sentences[10], " ".join(sentences[10:13])
    a, b = tts.run(text=short), tts.run(text=long)
    assert a["sr"] == b["sr"] == (8000 if voice == "kal" else 16000)
    assert a["wav"].dtype == np.float32 and a["wav"].ndim == 1
    assert 0.01 < np.abs(a["wav"]).max() <= 1.0
    for out, text in ((a, short), (b, long)):
        per_word = len(out["wav"]) / out["sr"] / len(text.split())
        assert 0.15 < per_word < 0.8, f"{voice}: {per_word:.2f} s per word"
    # three sentences take about three times as long as one
    assert 2.0 < len(b["wav"]) / len(a["wav"]) < 4.5


@needs_flite
def test_tts_graph_default_voice_and_per_run_voice(tts_session, sentences):
    slt = tts_session.run({"text": sentences[11]})
    rms = tts_session.run({"text": sentences[11], "voice": "rms"})
    assert slt["sr"] == rms["sr"] == 16000
    assert len(slt["wav"]) != len(rms["wav"])  # a different voice, not the default again
    with pytest.raises(NodeError, match="unknown voice 'bob'.*slt, rms, awb, kal, kal16"):
        tts_session.run({"text": "hello", "voice": "bob"})


@needs_flite
@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_flite_empty_text_is_a_run_time_error(tts_session, text):
    with pytest.raises(NodeError) as e:
        tts_session.run({"text": text})
    assert "node 'flite'" in str(e.value) and "Flite: empty text" in str(e.value)
    assert isinstance(e.value.cause, ValueError)


def test_flite_invalid_voice_is_a_build_time_error(tmp_path):
    g = write_graph(tmp_path / "bad.yaml", [{"name": "say", "module": "flite", "params": {"voice": "bob"},
                                             "inputs": {"text": "$text"}}], {"text": "str"}, {"wav": "say/wav"})
    with pytest.raises(GraphError) as e:
        mp.build_graph(g)  # validation only: nothing is set up
    msg = str(e.value)
    assert "node 'say'" in msg and "parameter 'voice'" in msg and "'bob'" in msg
    assert "slt, rms, awb, kal, kal16" in msg
    with pytest.raises(ValueError, match="valid voices: slt, rms, awb, kal, kal16"):
        Flite(voice="bob")


def test_missing_binary_names_the_debian_package(tmp_path):
    with pytest.raises(RuntimeError, match=r"apt-get install flite"):
        Flite(binary=str(tmp_path / "no-flite")).setup()
    with pytest.raises(RuntimeError, match=r"apt-get install espeak-ng"):
        EspeakNG(binary=str(tmp_path / "no-espeak")).setup()


@needs_flite
def test_flite_very_long_text(sentences):
    # ~40 sentences, ~330 words; the text goes in through a file, so no argv limit applies
    text = ". ".join(sentences * 2) + "."
    out = Flite(voice="kal").run(text=text)  # kal: the fastest voice; also works without setup()
    seconds = len(out["wav"]) / out["sr"]
    assert 0.15 * len(text.split()) < seconds < 0.8 * len(text.split())


@needs_flite
@needs_espeak
def test_no_temporary_files_are_left_behind(tmp_path, monkeypatch, sentences):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    assert tempfile.gettempdir() == str(tmp)
    tts = Flite(voice="rms")
    tts.setup()
    assert len(tts.run(text=sentences[12])["wav"]) > 0
    with pytest.raises(ValueError):
        tts.run(text=" ")
    # a synthesiser that fails after the temporary folder exists
    broken = Flite(voice="rms", binary=shutil.which("false"))
    with pytest.raises(RuntimeError, match="exited with status 1"):
        broken.run(text="hello")
    esp = EspeakNG()
    esp.setup()
    esp.run(text=sentences[12])
    assert list(tmp.iterdir()) == []


@needs_espeak
def test_espeak_produces_audio(sentences):
    esp = EspeakNG(voice="en-us")
    esp.setup()
    out = esp.run(text=sentences[13])
    assert out["sr"] == 22050 and out["wav"].dtype == np.float32 and out["wav"].ndim == 1
    seconds = len(out["wav"]) / out["sr"]
    assert 0.15 < seconds / len(sentences[13].split()) < 0.8
    assert np.abs(out["wav"]).max() > 0.05
    fast = EspeakNG(voice="en-us", speed=350, pitch=80)
    fast.setup()
    assert len(fast.run(text=sentences[13])["wav"]) < 0.7 * len(out["wav"])
    with pytest.raises(ValueError, match="EspeakNG: empty text"):
        esp.run(text="")


@needs_espeak
def test_espeak_bad_parameters(tmp_path):
    g = write_graph(tmp_path / "bad.yaml", [{"name": "say", "module": "espeak", "params": {"speed": 5, "pitch": 120},
                                             "inputs": {"text": "$text"}}], {"text": "str"}, {"wav": "say/wav"})
    with pytest.raises(GraphError) as e:
        mp.build_graph(g)
    assert "parameter 'speed': must be in 80..450, got 5" in str(e.value)
    assert "parameter 'pitch': must be in 0..99, got 120" in str(e.value)
    with pytest.raises(RuntimeError, match="unknown voice 'nosuchvoice'; espeak-ng has .*en-gb, .*en-us"):
        EspeakNG(voice="nosuchvoice").setup()
