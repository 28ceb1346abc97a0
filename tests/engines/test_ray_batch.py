"""The Ray Data batch path: per-item results and errors, and actors killed in the middle."""
from __future__ import annotations

import numpy as np
import pytest

from modulespack.core import Result, build_graph
from modulespack.engines.base import EngineError, WorkerDied
from modulespack.io import read_wav

pytest.importorskip("ray", reason="the ray extra is not installed")
from modulespack.engines import ray_batch  # noqa: E402
from modulespack.engines.ray_batch import run_ray_batch  # noqa: E402

FETCHES = ("peak", "seconds")


def job(name, wav, crash=None):
    inputs = {"wav": str(wav)}
    if crash is not None:
        inputs["crash"] = {"value": crash}
    return {"name": name, "inputs": inputs, "fetches": FETCHES}


def test_every_item_answered_and_a_bad_one_reported(ray_session, ray_test_graphs, flite_wavs, tmp_path):
    graph = build_graph(ray_test_graphs["peak"])
    jobs = [job(n, p) for n, p in flite_wavs.items()] + [job("missing", tmp_path / "nope.wav")]
    got = dict(run_ray_batch(graph, jobs, workers=2))
    assert sorted(got) == sorted([*flite_wavs, "missing"])
    assert isinstance(got["missing"], Exception) and "input 'wav'" in str(got["missing"])
    assert "nope.wav" in str(got["missing"])
    for name, path in flite_wavs.items():
        x, sr = read_wav(path)
        assert isinstance(got[name], Result), got[name]
        assert got[name]["peak"] == pytest.approx(float(np.abs(x).max()))
        assert got[name]["seconds"] == pytest.approx(len(x) / sr)


def test_killed_actor_retried_or_reported(ray_session, ray_test_graphs, flite_wavs, tmp_path, monkeypatch):
    monkeypatch.setattr(ray_batch, "TASK_RETRIES", 1)  # one retry is enough to show it; deaths are slow
    graph = build_graph(ray_test_graphs["peak"])
    wav = next(iter(flite_wavs.values()))
    jobs = [job("fine", wav), job("dies_once", wav, f"once:{tmp_path / 'died'}"), job("always_dies", wav, "always")]
    answers = list(run_ray_batch(graph, jobs, workers=2))
    names = [n for n, _ in answers]
    assert sorted(names) == ["always_dies", "dies_once", "fine"]  # each exactly once: none lost
    got = dict(answers)
    assert (tmp_path / "died").exists()                       # it did kill its actor once ...
    assert isinstance(got["dies_once"], Result)               # ... and was run again
    assert isinstance(got["fine"], Result)
    assert isinstance(got["always_dies"], WorkerDied)


def test_graph_that_cannot_be_set_up_stops_the_batch(ray_session, ray_test_graphs):
    graph = build_graph(ray_test_graphs["broken"])
    jobs = [{"name": f"u{i}", "inputs": {"x": {"value": 1.0}}, "fetches": None} for i in range(3)]
    with pytest.raises(EngineError, match="model.bin is missing"):
        list(run_ray_batch(graph, jobs, workers=1))
