"""The `modulespack` command, run in-process through `main([...])` (and once as the installed script)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from modulespack import cli
from modulespack.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ARITH = EXAMPLES / "graphs" / "arith.yaml"
NESTED = EXAMPLES / "graphs" / "nested_demo.yaml"
MODULES = EXAMPLES / "modules"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_graph(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).replace("{modules}", str(MODULES)))
    return path


GAIN_MODULE = '''
import numpy as np
from modulespack import Module, Port

class Gain(Module):
    """wav * gain, plus a feature matrix, the sample rate and a text"""
    inputs = {"wav": Port("float32", (None,))}
    outputs = {"wav": Port("float32", (None,)), "feats": Port("float32", (None, 3)),
               "sr": Port("int"), "text": Port("str")}

    def __init__(self, gain: float = 0.5, sr: int = 16000):
        self.gain = gain
        self.sr = sr

    def run(self, wav):
        feats = np.arange(len(wav) // 10 * 3, dtype=np.float32).reshape(-1, 3)
        return {"wav": (wav * self.gain).astype(np.float32), "feats": feats, "sr": self.sr,
                "text": f"{len(wav)} samples"}

class Boom(Module):
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def run(self, x):
        return {"y": deep_helper(x)}

def deep_helper(x):
    raise ZeroDivisionError(f"cannot divide {x}")
'''


@pytest.fixture
def gain_graph(tmp_path: Path) -> Path:
    (tmp_path / "gainmods.py").write_text(GAIN_MODULE)
    return write_graph(tmp_path / "gain.yaml", """\
        name: gain
        module_paths: [.]
        inputs:
          wav: {dtype: float32, shape: [null]}
        nodes:
          - name: g
            module: Gain
            params: {gain: 0.5, sr: 8000}
            inputs: {wav: $wav}
        outputs:
          out_wav: g/wav
          feats: g/feats
          sr: g/sr
          text: g/text
        """)


@pytest.fixture
def sine_wav(tmp_path: Path) -> tuple[Path, np.ndarray]:
    from scipy.io import wavfile
    t = np.arange(4000) / 8000.0
    pcm = np.round(0.6 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    path = tmp_path / "sine.wav"
    wavfile.write(path, 8000, pcm)
    return path, pcm.astype(np.float32) / 32768.0


# --------------------------------------------------------------------------- help, version


def test_help_and_version(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for cmd in ("check", "run", "draw", "modules", "serve", "corpus"):
        assert cmd in out
    assert "examples:" in out
    for cmd in ("check", "run", "draw", "modules"):
        code, out, _ = run(capsys, cmd, "--help")
        assert code == 0 and "examples:" in out and f"modulespack {cmd}" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("modulespack ")
    code, _, err = run(capsys)
    assert code == 2


def test_installed_console_script_help():
    exe = Path(sys.executable).parent / "modulespack"
    assert exe.exists(), f"console script missing at {exe}"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage: modulespack" in proc.stdout and "check" in proc.stdout and "run" in proc.stdout
    assert proc.stderr == ""


def test_serve_and_corpus_say_when_not_available(capsys, monkeypatch):
    def unavailable(name):
        return None, "modulespack.serve is not installed in this environment (no module 'modulespack.serve')"
    monkeypatch.setattr(cli, "load_provider", unavailable)
    code, out, err = run(capsys, "serve", "examples/graphs")
    assert code == 1 and "not available" in err and "Traceback" not in err
    code, out, err = run(capsys, "serve", "--help")
    assert code == 1 and "not available" in err


def test_provider_and_hook_commands_are_added(capsys, monkeypatch):
    def add_serve(sub):
        p = sub.add_parser("serve", help="fake serve")
        p.add_argument("folder")
        p.set_defaults(func=lambda args: print(f"serving {args.folder}") or 0)
        return p
    monkeypatch.setattr(cli, "load_provider", lambda name: (add_serve, ""))
    code, out, _ = run(capsys, "serve", "graphs/")
    assert code == 0 and out == "serving graphs/\n"

    def add_hello(sub):
        p = sub.add_parser("hello", help="say hello")
        p.set_defaults(func=lambda args: print("hello") or 3)
        return p
    monkeypatch.setattr(cli, "COMMAND_HOOKS", [])
    cli.register_command("hello", add_hello)
    code, out, _ = run(capsys, "hello")
    assert code == 3 and out == "hello\n"
    code, out, _ = run(capsys, "--help")
    assert "say hello" in out


# --------------------------------------------------------------------------- check


def test_check_ok(capsys):
    code, out, err = run(capsys, "check", ARITH, NESTED)
    assert code == 0
    assert f"OK {ARITH} (4 nodes)" in out
    assert f"OK {NESTED} (3 nodes" in out


def test_check_folder(capsys):
    code, out, _ = run(capsys, "check", EXAMPLES / "graphs")
    assert code == 0 and "arith.yaml" in out and "nested_demo.yaml" in out


def test_check_reports_every_problem_without_traceback(capsys, tmp_path):
    unknown = write_graph(tmp_path / "unknown.yaml", """\
        module_paths: [{modules}]
        inputs: {a: float}
        nodes:
          - name: first
            module: NoSuchModule
            inputs: {x: $a}
        """)
    cycle = write_graph(tmp_path / "cycle.yaml", """\
        module_paths: [{modules}]
        nodes:
          - name: s1
            module: Scale
            inputs: {x: s2/y}
          - name: s2
            module: Scale
            inputs: {x: s1/y}
        """)
    unconnected = write_graph(tmp_path / "unconnected.yaml", """\
        module_paths: [{modules}]
        inputs: {a: float}
        nodes:
          - name: adder
            module: Add
            inputs: {a: $a}
        """)
    code, out, err = run(capsys, "check", unknown, cycle, unconnected, ARITH)
    assert code == 1
    text = out + err
    assert "Traceback" not in text
    assert "node 'first'" in out and "unknown module 'NoSuchModule'" in out
    assert "cycle: s1 -> s2 -> s1" in out or "cycle: s2 -> s1 -> s2" in out
    assert "node 'adder': port 'b'" in out and "not connected" in out
    assert f"OK {ARITH}" in out
    # one problem per line, each naming its file
    problem_lines = [line for line in out.splitlines() if not line.startswith("OK ")]
    assert len(problem_lines) == 3
    assert all(str(tmp_path) in line for line in problem_lines)

    code, out, _ = run(capsys, "check", unconnected)
    assert code == 1


def test_check_yaml_syntax_error_names_the_line(capsys, tmp_path):
    bad = tmp_path / "syntax.yaml"
    bad.write_text("name: x\nnodes:\n  - name: a\n    module: Add\n   inputs: {a: 1\n  - name: b\n")
    code, out, err = run(capsys, "check", bad)
    assert code == 1
    assert "Traceback" not in out + err
    assert "invalid YAML" in out
    assert f"{bad}:5:" in out


def test_check_missing_file(capsys, tmp_path):
    code, out, err = run(capsys, "check", tmp_path / "nope.yaml")
    assert code == 1 and "nope.yaml" in out and "Traceback" not in out + err


# --------------------------------------------------------------------------- run


def test_run_with_inputs_and_fetches(capsys):
    code, out, err = run(capsys, "run", ARITH, "--input", "a=1", "--input", "b=2")
    assert code == 0, err
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert lines["result"] == "1.0"  # (1 + 2) * 3 - 8, ints converted for the float inputs
    assert lines["doubled"] == "6.0"

    code, out, err = run(capsys, "run", ARITH, "-i", "a=1", "-i", "b=2", "--fetch", "sum/y",
                         "--fetch", "result", "--timings")
    assert code == 0, err
    assert "sum/y" in out and "3.0" in out and "result" in out
    assert "doubled" not in out
    assert "timings:" in out and " ms" in out and "minus" in out
    assert "double " not in out  # only the nodes the fetches need ran


def test_run_json(capsys):
    code, out, _ = run(capsys, "run", NESTED, "-i", "a=1", "-i", "b=2", "--json", "--timings",
                       "--fetch", "result", "--fetch", "block/scaled")
    assert code == 0
    doc = json.loads(out)
    assert doc["outputs"] == {"result": 47.0, "block/scaled": 24.0}
    assert set(doc["timings_ms"]) == {"pre", "block", "post"}


def test_run_missing_input_is_named(capsys):
    code, out, err = run(capsys, "run", ARITH, "--input", "a=1")
    assert code == 2
    assert "'b'" in err and err.startswith("error:") and "Traceback" not in err


def test_run_bad_values_and_fetches(capsys):
    code, _, err = run(capsys, "run", ARITH, "-i", "a=hello", "-i", "b=2")
    assert code == 2 and "graph input 'a'" in err and "expected float" in err
    code, _, err = run(capsys, "run", ARITH, "-i", "a=1", "-i", "b=2", "--fetch", "sum/nope")
    assert code == 2 and "sum/nope" in err
    code, _, err = run(capsys, "run", ARITH, "-i", "a1")
    assert code == 2 and "NAME=VALUE" in err
    code, _, err = run(capsys, "run", ARITH, "-i", "a=@missing.wav", "-i", "b=1")
    assert code == 2 and "missing.wav" in err and "Traceback" not in err


def test_run_invalid_graph_prints_problems(capsys, tmp_path):
    g = write_graph(tmp_path / "g.yaml", """\
        module_paths: [{modules}]
        nodes:
          - {name: s, module: Scale, inputs: {x: nowhere/y}}
        """)
    code, out, err = run(capsys, "run", g)
    assert code == 1 and "node 's': port 'x'" in err and "Traceback" not in err


def test_run_node_error_shows_traceback_only_when_asked(capsys, tmp_path, gain_graph):
    g = write_graph(tmp_path / "boom.yaml", """\
        module_paths: [.]
        inputs: {x: float}
        nodes:
          - {name: bang, module: Boom, inputs: {x: $x}}
        outputs: {y: bang/y}
        """)
    code, out, err = run(capsys, "run", g, "-i", "x=1")
    assert code == 1
    assert err.startswith("error: node 'bang' (Boom): ZeroDivisionError: cannot divide 1.0")
    assert "Traceback" not in err and "--traceback" in err
    code, out, err = run(capsys, "run", g, "-i", "x=1", "--traceback")
    assert code == 1 and "Traceback" in err and "deep_helper" in err


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


def test_run_wav_out_pcm16_and_default_rate(capsys, tmp_path, gain_graph, sine_wav):
    from scipy.io import wavfile
    wav_path, samples = sine_wav
    outdir = tmp_path / "pcm"
    code, _, err = run(capsys, "run", gain_graph, "-i", f"wav=@{wav_path}", "--fetch", "out_wav",
                       "-o", outdir, "--wav-format", "pcm16", "--sr", "22050")
    assert code == 0, err
    assert os.listdir(outdir) == ["out_wav.wav"]
    rate, data = wavfile.read(outdir / "out_wav.wav")
    assert rate == 22050 and data.dtype == np.int16
    np.testing.assert_allclose(data / 32768.0, samples * 0.5, atol=1 / 32768)


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


# --------------------------------------------------------------------------- draw


def test_draw_dot_to_stdout(capsys):
    code, out, _ = run(capsys, "draw", ARITH)
    assert code == 0 and out.startswith('digraph "arith"') and '"n:sum"' in out


@pytest.mark.parametrize("suffix", [".dot", ".svg", ".png", ".mmd"])
def test_draw_to_files(capsys, tmp_path, suffix):
    if suffix in (".svg", ".png"):
        import shutil
        if shutil.which("dot") is None:
            pytest.skip("Graphviz 'dot' is not installed")
    target = tmp_path / f"nested{suffix}"
    code, out, err = run(capsys, "draw", NESTED, "-o", target)
    assert code == 0, err
    assert os.listdir(tmp_path) == [target.name]
    data = target.read_bytes()
    if suffix == ".dot":
        text = data.decode()
        assert "subgraph \"cluster_" in text and text.count("cluster_") == 2
    elif suffix == ".mmd":
        text = data.decode()
        assert text.startswith("flowchart") and text.count("subgraph ") == 2
    elif suffix == ".svg":
        ET.fromstring(data)
        text = data.decode()
        for name in ("pre", "block", "post", "minus", "inner", "add", "twice"):
            assert name in text
    else:
        assert data.startswith(b"\x89PNG\r\n\x1a\n")


def test_draw_format_option_and_errors(capsys, tmp_path):
    code, out, _ = run(capsys, "draw", ARITH, "--format", "mermaid")
    assert code == 0 and out.startswith("flowchart LR")
    code, _, err = run(capsys, "draw", ARITH, "-o", tmp_path / "x.gif")
    assert code == 2 and "format" in err
    bad = write_graph(tmp_path / "bad.yaml", """\
        module_paths: [{modules}]
        nodes:
          - {name: s, module: Nope}
        """)
    code, _, err = run(capsys, "draw", bad)
    assert code == 1 and "unknown module 'Nope'" in err and "--no-check" in err
    code, out, _ = run(capsys, "draw", bad, "--no-check")
    assert code == 0 and 'label="s\\nNope"' in out


# --------------------------------------------------------------------------- modules


def test_modules_lists_ports(capsys):
    code, out, err = run(capsys, "modules", "--path", MODULES)
    assert code == 0, err
    assert f"{MODULES / 'arith.py'}:" in out
    lines = out.splitlines()
    i = next(n for n, line in enumerate(lines) if line.strip().startswith("Add"))
    assert "y = a + b" in lines[i]
    assert lines[i + 1].split() == ["in:", "a:", "float,", "b:", "float"]
    assert lines[i + 2].split() == ["out:", "y:", "float"]
    assert "x1: float32 [*]" in out  # RMSE's array ports
    assert "b?: float" in out  # Subtract's optional input


def test_modules_json_and_broken_files(capsys, tmp_path):
    (tmp_path / "good.py").write_text(textwrap.dedent('''
        from modulespack import Module, Port
        class Mel(Module):
            """Mel spectrogram."""
            inputs = {"wav": Port("float32", (None,))}
            outputs = {"mel": Port("float32", (None, "n_mels"))}
        '''))
    (tmp_path / "broken.py").write_text("import no_such_package_here\n")
    code, out, err = run(capsys, "modules", "--path", tmp_path, "--json")
    assert code == 0, err
    entries = {e["name"]: e for e in json.loads(out) if e["source"].startswith(str(tmp_path))}
    assert entries["Mel"]["inputs"] == {"wav": {"dtype": "float32", "shape": [None]}}
    assert entries["Mel"]["outputs"]["mel"]["shape"] == [None, "n_mels"]
    assert entries["Mel"]["description"] == "Mel spectrogram."
    assert "no_such_package_here" in entries["broken"]["error"]
    code, out, _ = run(capsys, "modules", "--path", tmp_path)
    assert code == 0 and "broken" in out and "ERROR" in out and "Traceback" not in out
