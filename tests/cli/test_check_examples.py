"""`examples:` in graph files: checked with the graph (names, files, lines), and run by
`modulespack check --examples`."""
from __future__ import annotations

import shutil

import pytest

from cli_helpers import ARITH, EXAMPLES, run, write_graph

GRAPH = """\
    module_paths: [{modules}]
    inputs: {a: float, b: float}
    nodes:
      - name: sum
        module: Add
        inputs: {a: $a, b: $b}
    outputs: {y: sum/y}
"""


def test_unknown_inputs_and_missing_files_are_problems_with_lines(capsys, tmp_path):
    bad = write_graph(tmp_path / "bad.yaml", GRAPH + """\
    examples:
      good: {a: 1, b: 2}
      typo:
        a: 1
        c: 2
      nofile: {a: {file: nowhere.wav}, b: 1}
      notamap: 3
    """)
    code, out, err = run(capsys, "check", bad)
    assert code == 1 and "Traceback" not in out + err
    lines = [line for line in out.splitlines() if "[example]" in line]
    assert len(lines) == 3, out
    assert f"{bad}:12: port 'c': example 'typo': unknown input 'c' (inputs: a, b)" in out
    assert f"{bad}:13: port 'a': example 'nofile', input 'a': no file nowhere.wav" in out
    assert f"{bad}:14: example 'notamap' maps input names to values" in out


def test_examples_round_trip_through_the_spec(tmp_path):
    from modulespack.core import load_graph, save_graph
    path = write_graph(tmp_path / "g.yaml", GRAPH + "    examples:\n      one: {a: 1, b: 2}\n")
    spec = load_graph(path)
    assert spec.examples == {"one": {"a": 1, "b": 2}}
    again = load_graph(save_graph(spec, tmp_path / "copy.yaml"))
    assert again.examples == spec.examples


def test_check_examples_runs_them_and_reports_failures(capsys, tmp_path):
    code, out, _ = run(capsys, "check", "--examples", ARITH)
    assert code == 0
    assert "example 'small' ran in" in out and "example 'negative' ran in" in out

    failing = write_graph(tmp_path / "failing.yaml", GRAPH + """\
    examples:
      fine: {a: 1, b: 2}
      wrong type: {a: "one", b: 2}
      incomplete: {a: 1}
    """)
    code, out, err = run(capsys, "check", "--examples", failing)
    assert code == 1 and "Traceback" not in out + err
    assert "example 'fine' ran in" in out
    assert "FAIL" in out and "example 'wrong type'" in out and "'a'" in out.split("example 'wrong type'")[1]
    assert "example 'incomplete'" in out and "'b'" in out.split("example 'incomplete'")[1]
    assert "2 examples failed" in err
    # without --examples nothing runs: the file is valid
    code, out, _ = run(capsys, "check", failing)
    assert code == 0 and "ran in" not in out


def test_check_examples_reads_wav_files_and_fills_their_rate(capsys):
    pytest.importorskip("soundfile")
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed")
    code, out, err = run(capsys, "check", "--examples", EXAMPLES / "graphs" / "asr.yaml",
                         EXAMPLES / "graphs" / "tts.yaml")
    assert code == 0, out + err
    assert "example 'hello (rms)' ran in" in out and "example 'morning (kal, 8 kHz)' ran in" in out
    assert "example 'weather (rms)' ran in" in out


def test_every_example_graph_has_examples_and_small_recordings():
    from modulespack.core import load_graph
    graphs = sorted((EXAMPLES / "graphs").glob("*.yaml"))
    assert graphs
    for g in graphs:
        assert load_graph(g).examples, f"{g.name} has no examples:"
    wavs = sorted((EXAMPLES / "graphs" / "audio").glob("*.wav"))
    assert wavs and all(w.stat().st_size < 100_000 for w in wavs)
    assert (EXAMPLES / "graphs" / "audio" / "make_audio.sh").is_file()


def test_check_examples_reports_a_module_that_cannot_be_set_up(capsys, tmp_path):
    (tmp_path / "broken.py").write_text(
        "from modulespack import Module, Port\n\n"
        "class NoModel(Module):\n"
        "    inputs = {'x': Port('float')}\n"
        "    outputs = {'y': Port('float')}\n\n"
        "    def setup(self):\n"
        "        raise FileNotFoundError('model.bin is missing')\n\n"
        "    def run(self, x):\n"
        "        return {'y': x}\n")
    g = write_graph(tmp_path / "nomodel.yaml", """\
    module_paths: [.]
    inputs: {x: float}
    nodes:
      - {name: m, module: NoModel, inputs: {x: $x}}
    outputs: {y: m/y}
    examples:
      one: {x: 1}
      two: {x: 2}
    """)
    code, out, err = run(capsys, "check", "--examples", g, ARITH)
    assert code == 1 and "Traceback" not in out + err
    fail = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(fail) == 1 and str(g) in fail[0] and "node 'm'" in fail[0], out
    assert "FileNotFoundError: model.bin is missing" in fail[0]
    assert "example 'small' ran in" in out  # the next file is still checked
    assert "2 examples failed" in err and "1 of 2 graph files OK" in err
