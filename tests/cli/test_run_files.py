"""`modulespack run` with files: WAV, raw float32, JSON and text inputs; WAV, .f32 and .txt outputs."""
from __future__ import annotations

import json
import os
import textwrap

import numpy as np

from modulespack import cli

from cli_helpers import run, write_graph


def test_run_wav_in_and_out(capsys, tmp_path, gain_graph, sine_wav):
    from scipy.io import wavfile
    wav_path, samples = sine_wav
    outdir = tmp_path / "out"
    code, out, err = run(capsys, "run", gain_graph, "--input", f"wav=@{wav_path}", "-o", outdir)
    assert code == 0, err
    assert "out_wav" in out and "float32 array shape (4000,)" in out
    assert sorted(os.listdir(outdir)) == ["feats.f32", "out_wav.wav", "text.txt"]  # no temp files left
    rate, data = wavfile.read(outdir / "out_wav.wav")
    assert rate == 8000  # from the fetched 'sr' output
    assert data.dtype == np.float32 and data.shape == (4000,)
    np.testing.assert_allclose(data, samples * 0.5, atol=1e-6)
    feats = np.fromfile(outdir / "feats.f32", dtype="<f4")
    assert feats.size == 400 * 3
    np.testing.assert_array_equal(feats.reshape(-1, 3)[1], [3, 4, 5])
    assert "[400, 3]" in out  # the shape of the raw file is said
    assert (outdir / "text.txt").read_text() == "4000 samples"


def test_run_wav_out_pcm16_takes_the_graphs_rate_over_sr(capsys, tmp_path, gain_graph, sine_wav):
    """Only out_wav is fetched: its rate still comes from the graph's 'sr' output (fetched on the side,
    neither printed nor written), not from --sr."""
    from scipy.io import wavfile
    wav_path, samples = sine_wav
    outdir = tmp_path / "pcm"
    code, out, err = run(capsys, "run", gain_graph, "-i", f"wav=@{wav_path}", "--fetch", "out_wav",
                         "-o", outdir, "--wav-format", "pcm16", "--sr", "22050")
    assert code == 0, err
    assert os.listdir(outdir) == ["out_wav.wav"]
    assert "sr" not in out.split()
    rate, data = wavfile.read(outdir / "out_wav.wav")
    assert rate == 8000 and data.dtype == np.int16
    np.testing.assert_allclose(data / 32768.0, samples * 0.5, atol=1 / 32768)
    assert "--sr 22050 not used for 'out_wav'" in err and "8000 Hz" in err


def test_run_sr_is_the_fallback_when_the_graph_gives_no_rate(capsys, tmp_path):
    (tmp_path / "m.py").write_text(textwrap.dedent("""
        import numpy as np
        from modulespack import Module, Port
        class Noise(Module):
            inputs = {"n": Port("int")}
            outputs = {"audio": Port("float32", (None,))}
            def run(self, n):
                return {"audio": np.zeros(n, np.float32)}
        """))
    g = write_graph(tmp_path / "g.yaml", """\
        module_paths: [.]
        inputs: {n: int}
        nodes:
          - {name: noise, module: Noise, inputs: {n: $n}}
        outputs: {audio: noise/audio}
        """)
    from scipy.io import wavfile
    code, _, err = run(capsys, "run", g, "-i", "n=100", "-o", tmp_path / "a", "--sr", "22050")
    assert code == 0, err
    assert wavfile.read(tmp_path / "a" / "audio.wav")[0] == 22050 and "note" not in err
    code, _, err = run(capsys, "run", g, "-i", "n=100", "-o", tmp_path / "b")
    assert code == 0, err
    assert wavfile.read(tmp_path / "b" / "audio.wav")[0] == 16000
    assert "no sample rate for 'audio'" in err and "--sr" in err


def test_run_raw_and_json_inputs(capsys, tmp_path, gain_graph):
    raw = tmp_path / "x.f32"
    np.arange(20, dtype="<f4").tofile(raw)
    code, out, err = run(capsys, "run", gain_graph, "-i", f"wav=@{raw}", "--fetch", "out_wav", "--json")
    assert code == 0, err
    assert json.loads(out)["outputs"]["out_wav"] == {"dtype": "float32", "shape": [20], "min": 0.0, "max": 9.5}
    code, out, err = run(capsys, "run", gain_graph, "-i", f"wav=@{raw}:4")
    assert code == 2 and "rank" in err  # a [5, 4] matrix does not fit a 1-D port
    code, out, err = run(capsys, "run", gain_graph, "-i", f"wav=@{raw}:3")
    assert code == 2 and "not a multiple" in err and "x.f32" in err
    code, out, err = run(capsys, "run", gain_graph, "-i", "wav=[1, 2, 3]", "--fetch", "out_wav", "--json")
    assert code == 0, err
    assert json.loads(out)["outputs"]["out_wav"]["max"] == 1.5


def test_parse_value():
    assert cli.parse_value("1") == 1 and cli.parse_value("1.5") == 1.5
    assert cli.parse_value('"x"') == "x" and cli.parse_value("hello world") == "hello world"
    assert cli.parse_value("[1, 2]") == [1, 2] and cli.parse_value("true") is True
    assert cli.parse_value("@@at") == "@at"


def test_run_text_file_input(capsys, tmp_path):
    (tmp_path / "textmods.py").write_text(textwrap.dedent('''
        from modulespack import Module, Port
        class Upper(Module):
            inputs = {"text": Port("str")}
            outputs = {"text": Port("str")}
            def run(self, text):
                return {"text": text.upper()}
        '''))
    g = write_graph(tmp_path / "t.yaml", """\
        module_paths: [.]
        inputs: {text: str}
        nodes:
          - {name: up, module: Upper, inputs: {text: $text}}
        outputs: {text: up/text}
        """)
    (tmp_path / "in.txt").write_text("hello\nworld")
    code, out, err = run(capsys, "run", g, "-i", f"text=@{tmp_path / 'in.txt'}", "-o", tmp_path / "o")
    assert code == 0, err
    assert "HELLO\n  WORLD" in out
    assert (tmp_path / "o" / "text.txt").read_text() == "HELLO\nWORLD"
    code, out, _ = run(capsys, "run", g, "-i", "text=123")  # str inputs are not parsed as JSON
    assert code == 0 and out.strip() == "text  123"
