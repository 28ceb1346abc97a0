"""Wrong input values are the caller's mistake: the speech modules raise InputError naming the port,
and a Session reports them as such (a NodeInputError naming the graph input), for each case the
example graphs meet: empty text, an unknown voice, a sample rate <= 0, NaN or infinite samples,
audio too short for WORLD, and a rate a module cannot use (8 kHz into features.yaml)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import modulespack as mp
from modulespack.core.errors import InputError, NodeError, NodeInputError
from modulespack.speech import dsp
from modulespack.speech.asr import PocketSphinx
from modulespack.speech.tts import EspeakNG, Flite
from modulespack.speech.world import CodeAperiodicity, WorldAnalysis

GRAPHS = Path(__file__).resolve().parents[2] / "examples" / "graphs"

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def refused(excinfo, port: str, graph_input: str) -> str:
    """Check a Session's error is a module's InputError on `port`, fed by `graph_input`; its text."""
    e = excinfo.value
    assert isinstance(e, NodeError)
    assert isinstance(e.cause, InputError) or isinstance(e, NodeInputError), repr(e)
    assert e.cause.port == port
    if isinstance(e, NodeInputError):
        assert graph_input in e.inputs
    return str(e)


@pytest.fixture(scope="module")
def sessions():
    opened: dict[str, mp.Session] = {}

    def get(name: str) -> mp.Session:
        if name not in opened:
            opened[name] = mp.Session(GRAPHS / f"{name}.yaml")
        return opened[name]
    yield get
    for s in opened.values():
        s.close()


# -- text and voices ---------------------------------------------------------------------------

@needs_flite
@pytest.mark.parametrize("text", ["", "  \n\t"])
def test_empty_text(text, sessions):
    with pytest.raises(InputError, match="Flite: empty text") as e:
        Flite().run(text=text)
    assert e.value.port == "text"
    with pytest.raises(NodeError) as e:
        sessions("tts").run({"text": text})
    assert "empty text" in refused(e, "text", "text")


@needs_espeak
def test_empty_text_espeak():
    with pytest.raises(InputError, match="EspeakNG: empty text") as e:
        EspeakNG().run(text=" ")
    assert e.value.port == "text"


@needs_flite
def test_unknown_flite_voice(sessions):
    with pytest.raises(InputError, match="unknown voice 'bob'.*slt, rms, awb, kal, kal16") as e:
        Flite().run(text="hello", voice="bob")
    assert e.value.port == "voice"
    with pytest.raises(NodeError) as e:
        sessions("tts").run({"text": "hello", "voice": "bob"})
    assert "slt, rms, awb, kal, kal16" in refused(e, "voice", "voice")


@needs_espeak
def test_unknown_espeak_voice_names_the_installed_ones(tmp_path):
    esp = EspeakNG()
    esp.setup()
    assert esp.run(text="hello", voice="en-gb")["sr"] == 22050  # a known voice for one run
    with pytest.raises(InputError, match="unknown voice 'xx-nope'; espeak-ng has .*en-us") as e:
        esp.run(text="hello", voice="xx-nope")
    assert e.value.port == "voice"
    graph = tmp_path / "say.yaml"
    graph.write_text("inputs: {text: str, voice: {dtype: str, default: en-us}}\n"
                     "nodes: [{name: say, module: espeak, inputs: {text: $text, voice: $voice}}]\n"
                     "outputs: {wav: say/wav}\n")
    with mp.Session(graph) as s, pytest.raises(NodeError) as e:
        s.run({"text": "hello", "voice": "xx-nope"})
    refused(e, "voice", "voice")


# -- sample rates ------------------------------------------------------------------------------

SR_MODULES = {
    "WorldAnalysis": lambda sr: WorldAnalysis("dio").run(wav=np.zeros(1600, np.float32), sr=sr),
    "Resample": lambda sr: dsp.Resample().run(wav=np.zeros(1600, np.float32), sr=sr),
    "MelSpectrogram": lambda sr: dsp.MelSpectrogram().run(wav=np.zeros(1600, np.float32), sr=sr),
    "F0": lambda sr: dsp.F0().run(wav=np.zeros(1600, np.float32), sr=sr),
    "CodeAperiodicity": lambda sr: CodeAperiodicity().run(ap=np.zeros((3, 513), np.float32), sr=sr),
}


@pytest.mark.parametrize("sr", [0, -16000])
@pytest.mark.parametrize("name", SR_MODULES)
def test_rate_not_positive_modules(name, sr):
    with pytest.raises(InputError, match=rf"^{name}: .*{sr}") as e:
        SR_MODULES[name](sr)
    assert e.value.port == "sr"


def test_rate_not_positive_pocketsphinx():
    asr = PocketSphinx(pool_size=1)
    with pytest.raises(InputError, match="sample rate must be positive, got 0") as e:
        asr._prepare(np.zeros(1600, np.float32), 0)
    assert e.value.port == "sr"


@pytest.mark.parametrize("run", [lambda sr: PocketSphinx(pool_size=1)._prepare(np.zeros(1600, np.float32), sr),
                                 lambda sr: dsp.Resample().run(wav=np.zeros(1600, np.float32), sr=sr)],
                         ids=["PocketSphinx", "Resample"])
def test_an_absurd_rate_is_refused_before_resampling(run):
    """soxr never returns from 1e15 Hz: a client's mistake must not hold a worker for good."""
    with pytest.raises(InputError, match="1000000000000000 Hz is above 768000 Hz") as e:
        run(10**15)
    assert e.value.port == "sr"


@pytest.mark.parametrize("graph", ["resynth", "vc", "features", "asr"])
def test_rate_not_positive_graphs(graph, sessions):
    with pytest.raises(NodeError) as e:
        sessions(graph).run({"wav": np.zeros(1600, np.float32), "sr": 0})
    refused(e, "sr", "sr")


def test_8khz_into_features_names_the_usable_rates(sessions):
    """WORLD codes no aperiodicity band below 12 kHz: the `bap` node refuses the rate, saying which work."""
    x = (0.1 * np.sin(2 * np.pi * 150 * np.arange(8000) / 8000)).astype(np.float32)
    with pytest.raises(InputError, match="none at 8000 Hz; usable rates are 12000 Hz and above") as e:
        CodeAperiodicity().run(ap=np.zeros((3, 257), np.float32), sr=8000)
    assert e.value.port == "sr"
    with pytest.raises(NodeError) as e:
        sessions("features").run({"wav": x, "sr": 8000})
    msg = refused(e, "sr", "sr")
    assert "node 'bap'" in msg and "12000 Hz and above" in msg


# -- samples -----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_modules(bad):
    x = np.zeros(1600, np.float32)
    x[7] = bad
    for call in (lambda: WorldAnalysis("dio").run(wav=x, sr=16000),
                 lambda: dsp.MelSpectrogram().run(wav=x, sr=16000),
                 lambda: PocketSphinx(pool_size=1)._prepare(x, 16000)):
        with pytest.raises(InputError, match="NaN") as e:
            call()
        assert e.value.port == "wav"


@pytest.mark.parametrize("graph", ["resynth", "vc", "features", "asr"])
def test_non_finite_samples_graphs(graph, sessions):
    x = np.zeros(1600, np.float32)
    x[[3, 900]] = [np.nan, np.inf]
    with pytest.raises(NodeError) as e:
        sessions(graph).run({"wav": x, "sr": 16000})
    refused(e, "wav", "wav")


@pytest.mark.parametrize("n", [0, 1])
def test_too_short_audio_for_world(n, sessions):
    with pytest.raises(InputError, match=rf"input is {n} sample\(s\) long; WORLD analysis needs at least 80") as e:
        WorldAnalysis().run(wav=np.zeros(n, np.float32), sr=16000)
    assert e.value.port == "wav"
    for graph in ("resynth", "vc", "features"):
        with pytest.raises(NodeError) as e:
            sessions(graph).run({"wav": np.zeros(n, np.float32), "sr": 16000})
        refused(e, "wav", "wav")


def test_unexpected_failures_stay_ordinary_errors(sessions):
    """A fault that is not the input's (here: a module used before setup) is not an InputError."""
    with pytest.raises(RuntimeError, match="setup") as e:
        PocketSphinx(pool_size=1).run(wav=np.zeros(1600, np.float32), sr=16000)
    assert not isinstance(e.value, InputError)
