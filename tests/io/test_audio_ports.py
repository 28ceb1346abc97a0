"""The audio-port convention (`modulespack.io.audio_ports`) that the CLI and the server share."""
from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from modulespack import Port, Session, build_graph
from modulespack.io import read_wav, read_wav_bytes
from modulespack.io import wav as wav_module
from modulespack.io.audio_ports import (WAV_SUBTYPES, as_rate, audio_inputs, file_stem, is_audio,
                                        is_audio_value, is_rate, output_rate, rate_candidates, rate_value)

GRAPHS = Path(__file__).resolve().parents[2] / "examples" / "graphs"

MODULES = '''
import numpy as np
from modulespack import Module, Port

class Synth(Module):
    """Makes audio and says its rate."""
    inputs = {"n": Port("int")}
    outputs = {"wav": Port("float32", (None,)), "sr": Port("int")}
    def run(self, n):
        return {"wav": np.zeros(n, np.float32), "sr": 24000}

class Gain(Module):
    """Passes audio through; takes no rate."""
    inputs = {"wav": Port("float32", (None,))}
    outputs = {"wav": Port("float32", (None,))}
    def run(self, wav):
        return {"wav": wav * 0.5}

class AtRate(Module):
    """Passes audio through at a rate it is given."""
    inputs = {"wav": Port("float32", (None,)), "sr": Port("int")}
    outputs = {"wav": Port("float32", (None,))}
    def run(self, wav, sr):
        return {"wav": wav}
'''


def _graph(tmp_path, text):
    (tmp_path / "mods.py").write_text(MODULES)
    path = tmp_path / "g.yaml"
    path.write_text("module_paths: [.]\n" + textwrap.dedent(text))
    return build_graph(path)


def test_which_ports_are_audio():
    vec = Port("float32", (None,))
    assert is_audio("wav", vec) and is_audio("node/ref_audio", vec)
    assert not is_audio("wav", Port("float32", (None, 3))) and not is_audio("feats", vec)
    assert not is_audio("wav", Port("int32", (None,))) and not is_audio("wav", Port("any"))
    # an untyped port (modulespack2 modules) is audio when it carries samples
    assert is_audio_value("wav", Port("any"), np.zeros(3, np.float32))
    assert not is_audio_value("wav", Port("any"), np.zeros((3, 2), np.float32))
    assert not is_audio_value("wav", Port("int32", (None,)), np.zeros(3, np.float32))
    assert is_rate(Port("int")) and is_rate(Port("float")) and is_rate(Port("int64", ()))
    assert not is_rate(Port("bool")) and not is_rate(Port("int32", (None,))) and not is_rate(Port("any"))


def test_rate_names():
    assert rate_candidates("ref_wav")[:2] == ["ref_sr", "ref_sample_rate"]
    assert "ref_wav_sr" in rate_candidates("ref_wav") and rate_candidates("ref_wav")[-4:] == \
        ["sr", "sample_rate", "samplerate", "fs"]
    assert rate_candidates("synth/wav")[0] == "synth/sr"


def test_resynth_output_takes_the_rate_fed_in():
    g = build_graph(GRAPHS / "resynth.yaml")
    assert audio_inputs(g) == {"wav": "sr"}
    assert output_rate(g, "wav") == "in:sr"
    assert rate_value("in:sr", {}, {"sr": 8000}, {}) == 8000


def test_rate_beside_upstream_const_or_none(tmp_path):
    g = _graph(tmp_path, """
        inputs: {n: int, r: int}
        nodes:
          - {name: synth, module: Synth, inputs: {n: $n}}
          - {name: gain, module: Gain, inputs: {wav: synth/wav}}
          - {name: fixed, module: AtRate, inputs: {wav: gain/wav, sr: {value: 22050}}}
          - {name: given, module: AtRate, inputs: {wav: gain/wav, sr: $r}}
        outputs: {wav: gain/wav, fixed_wav: fixed/wav, given_wav: given/wav, synth_wav: synth/wav,
                  synth_sr: synth/sr}
        """)
    assert output_rate(g, "synth_wav") == "out:synth_sr"      # the rate output beside it
    assert output_rate(g, "gain/wav") == "out:synth/sr"       # its producer's producer says
    assert output_rate(g, "wav") == "out:synth/sr"
    assert output_rate(g, "fixed_wav") == "const:22050"
    assert output_rate(g, "given_wav") == "in:r"
    res = Session(g).run({"n": 10, "r": 100}, ["wav", "synth/sr"])
    assert as_rate(rate_value("out:synth/sr", res.outputs, {}, {})) == 24000
    assert as_rate(rate_value("const:22050", {}, {}, {})) == 22050

    none = _graph(tmp_path, """
        inputs: {wav: {dtype: float32, shape: [null]}}
        nodes:
          - {name: gain, module: Gain, inputs: {wav: $wav}}
        outputs: {wav: gain/wav}
        """)
    assert audio_inputs(none) == {"wav": None} and output_rate(none, "wav") is None


def test_rate_value_and_as_rate_errors():
    with pytest.raises(LookupError, match="'sr'"):
        rate_value("in:sr", {}, {}, {})
    assert rate_value("in:sr", {}, {}, {"sr": 16000}) == 16000
    with pytest.raises(LookupError, match="'synth/sr'"):
        rate_value("out:synth/sr", {}, {}, {})
    assert as_rate(np.int64(8000)) == 8000 and as_rate(16000.0) == 16000
    for bad in (0, -1, 8000.5, float("nan"), float("inf"), True, "8000"):
        with pytest.raises(ValueError, match="sample rate"):
            as_rate(bad)


def test_wav_subtypes_are_what_write_wav_takes():
    assert set(WAV_SUBTYPES.values()) == set(wav_module.SUBTYPES)


def test_file_stem():
    assert file_stem("synth/wav") == "synth_wav"
    assert file_stem("tts", "out/wav") == "tts-out_wav"
    assert file_stem("héllo wörld") == "h_llo_w_rld"  # ASCII only: also fit for a header
    assert file_stem("..") == "output" and file_stem("") == "output"
    assert file_stem('a"b;c\r\n') == "a_b_c__"
    assert len(file_stem("x" * 500)) == 80


@pytest.fixture
def kal_wav(tmp_path) -> Path:
    """A sentence in flite's voice kal, which speaks at 8 kHz."""
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed")
    path = tmp_path / "kal.wav"
    subprocess.run(["flite", "-voice", "kal", "-t", "A short sentence for the test.", "-o", str(path)],
                   check=True, capture_output=True, timeout=60)
    return path


def test_serve_encodes_resynth_of_8khz_audio_at_8khz(kal_wav):
    pytest.importorskip("pyworld")
    pytest.importorskip("fastapi")
    from modulespack.serve.encode import encode_answer
    from modulespack.serve.form import GraphForm

    x, sr = read_wav(kal_wav)
    assert sr == 8000
    g = build_graph(GRAPHS / "resynth.yaml")
    form = GraphForm(g)
    plan = form.output_plan(None)
    assert plan.audio_keys == ["wav"]
    feeds = {"wav": x, "sr": sr}
    with Session(g) as sess:
        res = sess.run(feeds, plan.fetches)
    data, rate, seconds = encode_answer(form, plan, res, feeds, "pcm16", audio=True)
    y, file_rate = read_wav_bytes(data)
    assert rate == file_rate == 8000
    assert abs(len(y) - len(x)) <= 0.005 * sr and seconds == pytest.approx(len(x) / sr, abs=0.006)
