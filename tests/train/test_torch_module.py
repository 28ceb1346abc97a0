"""`module: torch`: a trained project as a graph module, with ports (and their attributes) from config.py."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import modulespack as mp  # noqa: E402
from modulespack.core.build import build_graph  # noqa: E402
from modulespack.core.errors import GraphError  # noqa: E402
from modulespack.train.checkpoint import load_checkpoint, save_atomic  # noqa: E402
from modulespack.train.module import TorchModel  # noqa: E402
from modulespack.train.project import load_config, load_model_module  # noqa: E402
from modulespack.train.options import build_parser  # noqa: E402
from projects import IN_MGC, OUT_DIM, make_tiny_project  # noqa: E402

FRAME_ATTRS = {"sr": 16000, "frame_shift": 80, "frame_period_ms": 5.0}


def trained(tmp_path, **kw):
    """A tiny project and a state dict with random weights and non-trivial normalisation."""
    p = make_tiny_project(tmp_path, n_train=1, n_val=1, **kw)
    conf = load_config(p.dir)
    torch.manual_seed(0)
    stats = [np.random.default_rng(i).normal(1, 0.2, d).astype(np.float32)
             for i, d in enumerate((conf.in_dim, conf.in_dim, conf.out_dim, conf.out_dim))]
    stats[1], stats[3] = np.abs(stats[1]) + 0.5, np.abs(stats[3]) + 0.5
    model = load_model_module(p.dir).Model(conf.in_dim, conf.out_dim, build_parser().parse_args([]), conf.module,
                                           stats)
    return p, model


def expected(model, mgc, f0):
    x = torch.from_numpy(np.concatenate([mgc, f0[:, None]], axis=1))[None]
    with torch.no_grad():
        return model.denormalize_output(model(x))[0].numpy()


def test_ports_and_their_attributes_come_from_the_config(tmp_path):
    p, model = trained(tmp_path)
    ins, outs = TorchModel.ports({"project": str(p.dir), "checkpoint": "x"})
    assert (ins["mgc"].dtype, ins["mgc"].shape) == ("float32", (None, IN_MGC))
    assert ins["mgc"].attrs == {"dim": IN_MGC, **FRAME_ATTRS}
    assert ins["f0"].shape == (None,) and ins["f0"].attrs == {"dim": 1, **FRAME_ATTRS}
    assert set(outs) == {"mgc"} and outs["mgc"].attrs == {"dim": OUT_DIM, **FRAME_ATTRS}


def test_wav_output_is_the_audio_convention(tmp_path):
    p, model = trained(tmp_path, wav_output=True)
    save_atomic(model.state_dict(), p.dir / "trained_network.pt")
    ins, outs = TorchModel.ports({"project": str(p.dir), "checkpoint": "x"})
    assert (outs["wav"].shape, outs["wav"].attrs, outs["sr"].dtype) == ((None,), {"sr": 16000}, "int")
    m = TorchModel(str(p.dir), str(p.dir / "trained_network.pt"))
    m.setup()
    out = m.run(mgc=np.zeros((7, IN_MGC), np.float32), f0=np.full(7, 120, np.float32))
    assert out["sr"] == 16000 and out["wav"].shape == (7 * 80,) and out["wav"].dtype == np.float32


@pytest.mark.parametrize("form", ["state_dict", "toolkit_epoch"])
def test_run_applies_the_models_own_normalisation(tmp_path, form):
    p, model = trained(tmp_path)
    path = p.dir / ("trained_network.pt" if form == "state_dict" else "epoch_003.pt")
    if form == "state_dict":
        save_atomic(model.state_dict(), path)
    else:  # the toolkit's epoch dict keeps numpy arrays in its loss logs: must still load safely
        save_atomic({"state_dict": model.state_dict(), "info": "", "optimizer": {},
                     "train_log": {1: np.array([0.5, 0.4])}, "val_log": {1: np.array([0.6])},
                     "lr_scheduler": {}}, path)
        load_checkpoint(path)
    rng = np.random.default_rng(1)
    mgc, f0 = rng.normal(0, 1, (30, IN_MGC)).astype(np.float32), rng.uniform(0, 200, 30).astype(np.float32)
    m = TorchModel(str(p.dir), str(path))
    m.setup()
    got = m.run(mgc=mgc, f0=f0[:29])["mgc"]  # f0 one frame short: trimmed, as the dataset does
    assert got.shape == (29, OUT_DIM) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected(model, mgc[:29], f0[:29]), rtol=1e-5, atol=1e-5)
    with pytest.raises(mp.InputError) as e:
        m.run(mgc=mgc, f0=f0[:10])
    assert e.value.port == "mgc" and "disagree in length" in str(e.value)


def test_output_is_cut_to_the_frames_the_input_stands_for(tmp_path):
    p, model = trained(tmp_path)
    save_atomic(model.state_dict(), p.dir / "trained_network.pt")
    m = TorchModel(str(p.dir), str(p.dir / "trained_network.pt"))
    m.setup()
    whole = m._forward
    m._forward = lambda x, y, info: torch.cat([whole(x, y, info), torch.zeros(1, 5, OUT_DIM)], dim=1)  # padded
    out = m.run(mgc=np.zeros((12, IN_MGC), np.float32), f0=np.full(12, 120, np.float32))
    assert out["mgc"].shape == (12, OUT_DIM)


def test_the_test_sets_trans_fns_apply_to_the_inputs(tmp_path):
    p, model = trained(tmp_path)
    with open(p.dir / "config.py", "a") as f:
        f.write("def double(x):\n    return x * 2\n"
                "input_trans_fns = [[None, None]]\n"
                "test_input_trans_fns = [[double, double]]\n")
    save_atomic(model.state_dict(), p.dir / "trained_network.pt")
    m = TorchModel(str(p.dir), str(p.dir / "trained_network.pt"))
    m.setup()
    rng = np.random.default_rng(2)
    mgc, f0 = rng.normal(0, 1, (9, IN_MGC)).astype(np.float32), rng.uniform(0, 200, 9).astype(np.float32)
    np.testing.assert_allclose(m.run(mgc=mgc, f0=f0)["mgc"], expected(model, 2 * mgc, 2 * f0), rtol=1e-5, atol=1e-5)


def test_served_without_its_data_folders(tmp_path):
    # where the model is served, the test lists and data usually are not: streams and rate suffice
    p, model = trained(tmp_path)
    save_atomic(model.state_dict(), p.dir / "trained_network.pt")
    import shutil
    shutil.rmtree(p.data)
    ins, _ = TorchModel.ports({"project": str(p.dir), "checkpoint": "x"})
    assert ins["mgc"].attrs["dim"] == IN_MGC


def vc_graph(p, frame_period=5.0, order=IN_MGC - 1):
    """flite -> WORLD analysis -> mel-cepstrum -> the trained model -> envelope -> WORLD synthesis."""
    ckpt = str(p.dir / "trained_network.pt")
    return {
        "inputs": {"text": "str"},
        "nodes": [
            {"name": "tts", "module": "flite", "inputs": {"text": "$text"}},
            {"name": "analysis", "module": "world_analysis",
             "params": {"f0_method": "dio", "frame_period": frame_period},
             "inputs": {"wav": "tts/wav", "sr": "tts/sr"}},
            {"name": "mcep", "module": "sp_to_mcep", "params": {"order": order}, "inputs": {"sp": "analysis/sp"}},
            {"name": "model", "module": "torch", "params": {"project": str(p.dir), "checkpoint": ckpt},
             "inputs": {"mgc": "mcep/mgc", "f0": "analysis/f0"}},
            {"name": "env", "module": "mcep_to_sp", "inputs": {"mgc": "model/mgc", "sr": "tts/sr"}},
            {"name": "synth", "module": "world_synthesis",
             "inputs": {"f0": "analysis/f0", "sp": "env/sp", "ap": "analysis/ap", "sr": "tts/sr",
                        "length": "analysis/length"}}],
        "outputs": {"wav": "synth/wav", "mgc": "model/mgc"}}


def test_in_a_graph_from_flite_audio_to_a_waveform(tmp_path):
    p, model = trained(tmp_path)
    # a model that keeps the first OUT_DIM coefficients, through its normalisation and back
    sd = model.state_dict()
    w = torch.zeros(OUT_DIM, IN_MGC + 1)
    w[:, :OUT_DIM] = torch.diag(sd["input_std"][:OUT_DIM] / sd["output_std"])
    sd["linear.weight"] = w
    sd["linear.bias"] = (sd["input_mean"][:OUT_DIM] - sd["output_mean"]) / sd["output_std"]
    save_atomic(sd, p.dir / "trained_network.pt")
    spec = vc_graph(p)
    spec["outputs"]["mcep"] = "mcep/mgc"
    g = build_graph(spec)
    assert g.outputs["mgc"].attrs == {"dim": OUT_DIM, **FRAME_ATTRS}
    with mp.Session(g) as s:
        out = s.run({"text": "A short sentence."})
    np.testing.assert_allclose(out["mgc"], out["mcep"][:, :OUT_DIM], rtol=1e-4, atol=1e-4)
    assert out["wav"].dtype == np.float32 and len(out["wav"]) > 8000 and np.isfinite(out["wav"]).all()
    assert len(out["mgc"]) == pytest.approx(len(out["wav"]) / 80, abs=2)


@pytest.mark.parametrize("change,attr", [({"frame_period": 10.0}, "frame_period_ms"), ({"order": 24}, "dim")])
def test_an_extractor_that_differs_from_the_training_config_is_refused_at_build(tmp_path, change, attr):
    p, model = trained(tmp_path)
    save_atomic(model.state_dict(), p.dir / "trained_network.pt")
    with pytest.raises(GraphError) as e:
        build_graph(vc_graph(p, **change))
    probs = [q for q in e.value.problems if q.kind == "attrs" and attr in q.message]
    assert probs, str(e.value)
    q = probs[0]
    assert (q.node, q.port) == ("model", "mgc") and "mcep/mgc" in q.message and "model/mgc" in q.message
    if attr == "frame_period_ms":
        assert "10.0" in q.message and "5.0" in q.message and "set at analysis/sp" in q.message
    else:
        assert "25" in q.message and str(IN_MGC) in q.message


def test_missing_checkpoint_is_a_parameter_problem(tmp_path):
    p, _ = trained(tmp_path)
    spec = vc_graph(p)
    spec["nodes"][3]["params"]["checkpoint"] = str(tmp_path / "nope.pt")
    with pytest.raises(GraphError) as e:
        build_graph(spec)
    (q,) = [q for q in e.value.problems if q.kind == "parameter"]
    assert q.node == "model" and "nope.pt" in q.message
