"""`modulespack run` fills a graph's `sr` input from the WAV file given for its audio input."""
from __future__ import annotations

import textwrap

import numpy as np

from modulespack.cli import main
from modulespack.io import write_wav


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


def test_wav_file_fills_sr_unless_given(tmp_path, capsys):
    g = _graph(tmp_path)
    wav = tmp_path / "x.wav"
    write_wav(wav, np.zeros(22050, np.float32), 22050)
    assert main(["run", str(g), "--input", f"wav=@{wav}", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"sr": 22050' in out and '"seconds": 1.0' in out
    assert main(["run", str(g), "--input", f"wav=@{wav}", "--input", "sr=11025", "--json"]) == 0
    assert '"seconds": 2.0' in capsys.readouterr().out
