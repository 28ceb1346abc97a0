"""The voice-conversion example end to end, tiny: a 4-sentence flite corpus -> prepare.py ->
`modulespack train` killed (SIGKILL) in its second epoch -> resumed by the project's main.py ->
`modulespack infer` -> the checkpoint in examples/graphs/vc_trained.yaml run by `modulespack run`
-> a WAV of the input's rate and length, whose converted mel-cepstrum is what `infer` wrote.
Also prepare.py's pieces: DTW warping onto the source frames, the least-squares map, list checks."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from modulespack.io import read_list, read_raw, read_wav
from modulespack.speech.corpus import make_corpus

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "examples" / "projects" / "vc-rms-slt"
GRAPH = ROOT / "examples" / "graphs" / "vc_trained.yaml"
CLI = [sys.executable, "-m", "modulespack.cli"]

# appended to the copied model.py: the 4th forward call in training mode announces itself and
# stalls, so the test kills the run in the middle of an epoch. With batch size 1, 2 training and 1
# validation sentences that call falls in epoch 1 of 2 whether validation runs in eval mode or not.
STALL = """
import os as _os, time as _time
_forward = Model.forward
def _stalling_forward(self, x):
    self._calls = getattr(self, "_calls", 0) + self.training
    marker = _os.environ.get("KILL_MARKER")
    if marker and self.training and self._calls == 4:
        open(marker, "a").close()
        _time.sleep(30)
    return _forward(self, x)
Model.forward = _stalling_forward
"""


def _run(cmd, env, timeout=120):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    assert out.returncode == 0, f"{cmd}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
def test_corpus_train_kill_resume_infer_graph(tmp_path):
    corpus, data, project, model = tmp_path / "corpus", tmp_path / "data", tmp_path / "project", tmp_path / "model"
    make_corpus(corpus, ["rms", "slt"], n_sentences=4, workers=2, progress=False)
    project.mkdir()
    for f in ("config.py", "model.py", "main.py"):
        shutil.copy(PROJECT / f, project / f)
    with open(project / "model.py", "a") as f:
        f.write(STALL)
    env = dict(os.environ, VC_RMS_SLT_DATA=str(data), PYTHONPATH=str(ROOT))
    _run([sys.executable, str(PROJECT / "prepare.py"), str(corpus), str(data), "--refine", "1"], env)
    train, test = read_list(data / "scp" / "train.lst"), read_list(data / "scp" / "test.lst")
    assert len(train) == 2 and len(test) == 1

    options = ["--epochs", "2", "--batch-size", "1", "--lr", "1e-3", "--seed", "1", "--num-workers", "0", "--no-cuda",
               "--save-model-dir", str(model), "--path-cache-file", str(tmp_path)]
    args = [*CLI, "train", str(project), *options]
    marker = tmp_path / "in_epoch_1"
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            env=dict(env, KILL_MARKER=str(marker)))
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "training never reached its second epoch"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert (model / "epoch_000.pt").exists() and not (model / "epoch_001.pt").exists()

    # resumed through the project's own three-line main.py, as a toolkit user would
    out = _run([sys.executable, str(project / "main.py"), *options, "--trained-model", str(model / "epoch_000.pt")],
               env)
    assert "next epoch 1" in out.stdout
    assert (model / "epoch_001.pt").exists() and (model / "trained_network.pt").exists()

    out_dir = tmp_path / "infer"
    _run([*CLI, "infer", str(project), "--trained-model", str(model / "trained_network.pt"), "--output-dir",
          str(out_dir), "--no-cuda", "--path-cache-file", str(tmp_path)], env)
    src = read_raw(data / "src_mgc" / f"{test[0]}.mgc", 25)
    converted = read_raw(out_dir / f"{test[0]}.mgc", 25)
    assert converted.shape == src.shape and np.isfinite(converted).all()

    # the shipped graph with this run's checkpoint and statistics (absolute paths)
    spec = yaml.safe_load(GRAPH.read_text())
    spec.pop("examples")
    for node in spec["nodes"]:
        if node["name"] == "convert":
            node["params"] = {"project": str(project), "checkpoint": str(model / "trained_network.pt")}
        if node["name"] == "f0":
            node["params"] = {"source_stats": str(data / "stats" / "rms_lf0.stats"),
                              "target_stats": str(data / "stats" / "slt_lf0.stats")}
    graph = tmp_path / "vc_trained.yaml"
    graph.write_text(yaml.safe_dump(spec))
    wav_in = corpus / "wav_16k" / f"rms_{test[0]}.wav"
    _run([*CLI, "run", str(graph), "-i", f"wav=@{wav_in}", "-o", str(tmp_path / "out"), "--wav-format", "pcm16"],
         env)
    x, sr_in = read_wav(wav_in)
    y, sr = read_wav(tmp_path / "out" / "wav.wav")
    assert sr == sr_in == 16000 and len(y) == len(x) and np.abs(y).max() > 0.01
    # the graph converts the same mel-cepstrum (the corpus's, from the same analysis) as infer did
    graph_mgc = np.fromfile(tmp_path / "out" / "mgc.f32", np.float32).reshape(-1, 25)
    np.testing.assert_allclose(graph_mgc, converted, rtol=1e-4, atol=1e-4)


def _prepare_module():
    sys.path.insert(0, str(PROJECT))
    try:
        import prepare
    finally:
        sys.path.remove(str(PROJECT))
    return prepare


def test_target_frames_follow_the_source_timing():
    prep = _prepare_module()
    target = np.arange(12, dtype=np.float32).reshape(4, 3)
    # source frame 0 <- target 0; 1 <- target 1 and 2 (averaged); 2 <- target 3
    path = np.array([[0, 0], [1, 1], [1, 2], [2, 3]])
    np.testing.assert_allclose(prep.warp_to(path, target, 3), [target[0], (target[1] + target[2]) / 2, target[3]])


def test_least_squares_map_recovers_a_linear_map():
    prep = _prepare_module()
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(25, 25)), rng.normal(size=25)
    xs = [rng.normal(size=(200, 25)).astype(np.float32) for _ in range(3)]
    w = prep.fit_linear(xs, [x @ a + b for x in xs], ridge=0.0)
    np.testing.assert_allclose(prep.apply_linear(w, xs[0]), xs[0] @ a + b, rtol=1e-4, atol=1e-3)


def test_a_sentence_missing_for_the_target_voice_is_named(tmp_path):
    prep = _prepare_module()
    (tmp_path / "scp").mkdir()
    (tmp_path / "scp" / "train.lst").write_text("rms_0000\nslt_0000\nrms_0001\n")
    with pytest.raises(SystemExit, match=r"no slt utterance for \['0001'\]"):
        prep.sentence_ids(tmp_path, "train", "rms", "slt")
    (tmp_path / "scp" / "train.lst").write_text("rms_0000\nslt_0000\n")
    assert prep.sentence_ids(tmp_path, "train", "rms", "slt") == ["0000"]
