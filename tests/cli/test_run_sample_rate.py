"""`modulespack run` and sample rates: a WAV file fills the graph's rate input, a rate that
contradicts the file is refused, a forgotten '@' is pointed out, and audio outputs are written at
the rate the graph gives them (not --sr)."""
from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from modulespack.cli import main
from modulespack.io import read_wav, write_wav

from cli_helpers import EXAMPLES, run


def _graph(tmp_path):
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "rate.py").write_text(textwrap.dedent("""
        from modulespack import Module, Port
        class Duration(Module):
            inputs = {"wav": Port("float32", (None,)), "sr": Port("int")}
            outputs = {"seconds": Port("float"), "sr": Port("int")}
            def run(self, wav, sr):
                return {"seconds": len(wav) / sr, "sr": sr}
        """))
    g = tmp_path / "g.yaml"
    g.write_text(textwrap.dedent("""
        module_paths: [mods]
        inputs: {wav: {dtype: float32, shape: [null]}, sr: int}
        nodes:
          - {name: d, module: Duration, inputs: {wav: $wav, sr: $sr}}
        outputs: {seconds: d/seconds, sr: d/sr}
        """))
    return g


def _wav(tmp_path, name="x.wav", sr=22050, n=22050) -> Path:
    path = tmp_path / name
    write_wav(path, np.zeros(n, np.float32), sr)
    return path


def test_wav_file_fills_sr_and_an_agreeing_rate_is_accepted(tmp_path, capsys):
    g, wav = _graph(tmp_path), _wav(tmp_path)
    assert main(["run", str(g), "--input", f"wav=@{wav}", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"sr": 22050' in out and '"seconds": 1.0' in out
    assert main(["run", str(g), "--input", f"wav=@{wav}", "--input", "sr=22050", "--json"]) == 0
    assert '"seconds": 1.0' in capsys.readouterr().out


def test_a_rate_that_contradicts_the_wav_file_is_refused(tmp_path, capsys):
    g, wav = _graph(tmp_path), _wav(tmp_path)
    code, out, err = run(capsys, "run", g, "--input", f"wav=@{wav}", "--input", "sr=11025")
    assert code == 2 and not out
    assert "sr=11025" in err and "22050 Hz" in err and str(wav) in err


def test_two_wav_files_at_different_rates_for_one_rate_input_are_refused(tmp_path, capsys):
    (tmp_path / "m.py").write_text(textwrap.dedent("""
        from modulespack import Module, Port
        class Two(Module):
            inputs = {"wav": Port("float32", (None,)), "ref_wav": Port("float32", (None,)), "sr": Port("int")}
            outputs = {"n": Port("int")}
            def run(self, wav, ref_wav, sr):
                return {"n": len(wav) + len(ref_wav)}
        """))
    g = tmp_path / "two.yaml"
    g.write_text(textwrap.dedent("""
        module_paths: [.]
        inputs: {wav: {dtype: float32, shape: [null]}, ref_wav: {dtype: float32, shape: [null]}, sr: int}
        nodes:
          - {name: t, module: Two, inputs: {wav: $wav, ref_wav: $ref_wav, sr: $sr}}
        outputs: {n: t/n}
        """))
    a, b = _wav(tmp_path, "a.wav", 16000, 160), _wav(tmp_path, "b.wav", 8000, 80)
    code, _, err = run(capsys, "run", g, "-i", f"wav=@{a}", "-i", f"ref_wav=@{b}")
    assert code == 2 and "16000 Hz" in err and "8000 Hz" in err and "'sr'" in err


@pytest.mark.parametrize("exists", [True, False])
def test_a_forgotten_at_is_pointed_out(tmp_path, capsys, monkeypatch, exists):
    g = _graph(tmp_path)
    monkeypatch.chdir(tmp_path)
    if exists:
        _wav(tmp_path, "in.wav")
    code, _, err = run(capsys, "run", g, "--input", "wav=in.wav")
    assert code == 2
    assert "wav=@in.wav" in err and "missing graph input" not in err


def test_samples_without_a_rate_say_how_to_give_it(tmp_path, capsys):
    g = _graph(tmp_path)
    raw = tmp_path / "x.f32"
    np.zeros(100, "<f4").tofile(raw)
    code, _, err = run(capsys, "run", g, "--input", f"wav=@{raw}")
    assert code == 2 and "sr=HZ" in err and "@file.wav" in err
    code, out, err = run(capsys, "run", g, "--input", f"wav=@{raw}", "--input", "sr=100", "--json")
    assert code == 0, err
    assert '"seconds": 1.0' in out


@pytest.fixture
def kal_wav(tmp_path) -> Path:
    """A sentence in flite's voice kal, which speaks at 8 kHz."""
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed")
    path = tmp_path / "kal.wav"
    subprocess.run(["flite", "-voice", "kal", "-t", "A short sentence for the test.", "-o", str(path)],
                   check=True, capture_output=True, timeout=60)
    return path


def test_resynth_of_8khz_audio_writes_an_8khz_file(tmp_path, capsys, kal_wav):
    pytest.importorskip("pyworld")
    x, sr = read_wav(kal_wav)
    assert sr == 8000
    outdir = tmp_path / "out"
    code, out, err = run(capsys, "run", EXAMPLES / "graphs" / "resynth.yaml", "--input", f"wav=@{kal_wav}",
                         "-o", outdir)
    assert code == 0, err
    y, out_sr = read_wav(outdir / "wav.wav")
    assert out_sr == 8000  # the rate fed to synthesis, not --sr's 16000
    assert abs(len(y) - len(x)) <= 0.005 * sr  # the same duration, give or take one 5 ms frame
    assert "at 8000 Hz" in out and "note" not in err
