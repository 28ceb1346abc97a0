"""run_batch over a corpus of flite utterances: outputs in the toolkit's conventions, identical on
every engine, resumable, failures reported per utterance."""
from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from modulespack.core import Session
from modulespack.engines import run_batch
from modulespack.engines.batch_items import make_items, read_item
from modulespack.io import read_raw, read_wav, write_raw, write_wav

GATE = '''
import time
import numpy as np
from modulespack import Module, Port
from modulespack.core import InputError


class Gate(Module):
    """Passes audio through after `seconds`; refuses silent audio (an input error)."""
    inputs = {"wav": Port("float32", (None,))}
    outputs = {"wav": Port("float32", (None,))}

    def __init__(self, seconds: float = 0.0):
        self.seconds = seconds

    def run(self, wav):
        time.sleep(self.seconds)
        if not np.abs(wav).max() > 0:
            raise InputError("silent audio", port="wav")
        return {"wav": wav}
'''

GRAPH = '''
name: light
module_paths: [modules]
inputs:
  wav: {dtype: float32, shape: [null]}
  sr: int
nodes:
  - name: gate
    module: Gate
    params: {seconds: SECONDS}
    inputs: {wav: $wav}
  - name: pre
    module: preemphasis
    inputs: {wav: gate/wav}
  - name: logmel
    module: mel
    params: {n_fft: 512, win_length: 400, hop_length: 160, n_mels: 20, log: true}
    inputs: {wav: gate/wav, sr: $sr}
outputs: {wav: pre/wav, mel: logmel/mel}
'''

SENTENCES = ["the cat sat.", "a red boat.", "one two three.", "good morning.", "it is late.",
             "open the door.", "blue sky.", "we went home.", "the sun is up.", "nine ten.",
             "hold on.", "a small bird.", "turn left.", "hot tea.", "the end is near.", "six apples.",
             "not today.", "green grass.", "call me.", "all done."]


def write_light_graph(folder: Path, seconds: float = 0.0) -> Path:
    """The test graph (a gate module from a module folder, pre-emphasis and a log-mel) in `folder`."""
    (folder / "modules").mkdir(parents=True, exist_ok=True)
    (folder / "modules" / "gate.py").write_text(textwrap.dedent(GATE))
    path = folder / "light.yaml"
    path.write_text(GRAPH.replace("SECONDS", str(seconds)))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """20 short flite utterances (16 kHz WAVs) and the test graph."""
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed")
    root = tmp_path_factory.mktemp("batch_corpus")
    (root / "wav").mkdir()
    names = [f"utt{i:02d}" for i in range(len(SENTENCES))]
    for name, text in zip(names, SENTENCES):
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(root / "wav" / f"{name}.wav")],
                       check=True, capture_output=True, timeout=60)
    return {"root": root, "names": names, "graph": write_light_graph(root)}


def items_for(corpus: dict, out: Path, names: list[str] | None = None) -> list[dict]:
    return make_items(names or corpus["names"], {"wav": str(corpus["root"] / "wav" / "{name}.wav")},
                      {"wav": str(out / "wav" / "{name}.wav"), "mel": str(out / "mel" / "{name}.mel")})


@pytest.fixture(scope="module")
def local_out(corpus, tmp_path_factory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("local_out")
    results = list(run_batch(corpus["graph"], items_for(corpus, out), engine="local", workers=2))
    return out, results


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.rglob("*"))
            if p.is_file()}


def test_local_batch_writes_every_output_in_the_toolkit_conventions(corpus, local_out):
    out, results = local_out
    assert sorted(r.name for r in results) == corpus["names"]
    assert {r.status for r in results} == {"done"}
    assert all(r.audio_seconds > 0.3 for r in results)
    sess = Session(corpus["graph"])
    for name in corpus["names"][:3]:
        wav, sr = read_wav(corpus["root"] / "wav" / f"{name}.wav")
        want = sess.run({"wav": wav, "sr": sr}).outputs
        got, got_sr = read_wav(out / "wav" / f"{name}.wav")
        assert got_sr == sr == 16000
        np.testing.assert_array_equal(got, want["wav"])          # float WAV: lossless
        mel = read_raw(out / "mel" / f"{name}.mel", dim=20)
        np.testing.assert_array_equal(mel, want["mel"])
    sess.close()


def test_rerun_skips_finished_utterances_and_redoes_only_the_missing(corpus, local_out, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(local_out[0], out)
    before = snapshot(out)
    (out / "mel" / "utt03.mel").unlink()                  # an utterance with one output of two
    (out / "wav" / "utt07.wav").unlink()
    stale = out / "mel" / ".utt03.mel.0123456789ab.tmp"  # what a kill -9 mid-write leaves
    stale.write_bytes(b"half")
    results = {r.name: r for r in run_batch(corpus["graph"], items_for(corpus, out), engine="local", workers=1)}
    assert {n for n, r in results.items() if r.status == "done"} == {"utt03", "utt07"}
    assert sum(r.status == "skipped" for r in results.values()) == 18
    assert not stale.exists()
    after = snapshot(out)
    assert after.keys() == before.keys()
    assert all(after[k][0] == before[k][0] for k in after)          # the same bytes
    untouched = [k for k in after if "utt03" not in k and "utt07" not in k]
    assert all(after[k][1] == before[k][1] for k in untouched)      # not written again


def test_failing_utterances_are_reported_and_the_others_done(corpus, tmp_path):
    wav = tmp_path / "wav"
    shutil.copytree(corpus["root"] / "wav", wav)
    (wav / "broken.wav").write_bytes(b"RIFF not really")
    write_wav(wav / "silent.wav", np.zeros(8000, np.float32), 16000)
    names = ["utt00", "broken", "missing", "silent", "utt01"]
    items = make_items(names, {"wav": str(wav / "{name}.wav")},
                       {"wav": str(tmp_path / "out" / "{name}.wav"), "mel": str(tmp_path / "out" / "{name}.mel")})
    results = {r.name: r for r in run_batch(corpus["graph"], items, engine="local", workers=2)}
    assert {n for n, r in results.items() if r.status == "done"} == {"utt00", "utt01"}
    assert "broken.wav" in results["broken"].error and "not a readable WAV" in results["broken"].error
    assert "missing.wav: no such file" in results["missing"].error
    assert "silent audio" in results["silent"].error and "'wav'" in results["silent"].error
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["utt00.mel", "utt00.wav", "utt01.mel",
                                                                    "utt01.wav"]


def test_items_without_files_return_values_and_take_literals(corpus, tmp_path):
    raw = tmp_path / "utt00.f32"
    wav, sr = read_wav(corpus["root"] / "wav" / "utt00.wav")
    write_raw(wav, raw)
    item = {"name": "utt00", "inputs": {"wav": str(raw), "sr": {"value": 16000}}}
    from modulespack.core import build_graph
    graph = build_graph(corpus["graph"])
    feeds = read_item(item, graph)
    assert feeds["sr"] == 16000 and feeds["wav"].shape == wav.shape
    [r] = list(run_batch(graph, [item], engine="thread", workers=1, fetches=["mel"]))
    assert r.status == "done" and r.files == {}
    assert r.outputs["mel"].shape[1] == 20


def test_a_wav_rate_contradicting_a_given_rate_is_an_item_error(corpus):
    from modulespack.core import build_graph
    from modulespack.engines.batch_items import ItemInputError
    item = {"name": "utt00", "inputs": {"wav": str(corpus["root"] / "wav" / "utt00.wav"), "sr": 22050}}
    with pytest.raises(ItemInputError, match="16000 Hz"):
        read_item(item, build_graph(corpus["graph"]))


def test_ray_engine_writes_byte_identical_files(request, corpus, local_out, tmp_path):
    try:
        request.getfixturevalue("ray_session")
    except pytest.FixtureLookupError:
        pytest.skip("no ray_session fixture")
    out = tmp_path / "ray"
    results = list(run_batch(corpus["graph"], items_for(corpus, out), engine="ray", workers=2))
    assert sorted(r.name for r in results if r.status == "done") == corpus["names"]
    ray_files = snapshot(out)
    local_files = snapshot(local_out[0])
    assert ray_files.keys() == local_files.keys()
    assert all(ray_files[k][0] == local_files[k][0] for k in ray_files)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert sorted(os.listdir(out)) == ["mel", "wav"]


UNUSABLE = '''
import os
from modulespack import Module, Port


class Dies(Module):
    """Its worker process exits in setup."""
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def setup(self):
        os._exit(3)

    def run(self, x):
        return {"y": x}


class NoModel(Module):
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def setup(self):
        raise OSError("no model file")

    def run(self, x):
        return {"y": x}
'''


@pytest.mark.parametrize("engine, module, message", [("local", "Dies", "exited before it was ready"),
                                                     ("thread", "NoModel", "no model file")])
def test_a_graph_that_cannot_run_ends_the_batch_with_an_engine_error(tmp_path, engine, module, message):
    from modulespack.engines import EngineError
    (tmp_path / "unusable.py").write_text(UNUSABLE)
    g = tmp_path / "g.yaml"
    g.write_text(f"module_paths: [.]\ninputs: {{x: float}}\nnodes: [{{name: m, module: {module}, "
                 f"inputs: {{x: $x}}}}]\noutputs: {{y: m/y}}\n")
    items = [{"name": f"u{i}", "inputs": {"x": {"value": float(i)}}} for i in range(3)]
    with pytest.raises(EngineError, match=message):
        list(run_batch(g, items, engine=engine, workers=1))
