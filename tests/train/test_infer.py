"""Inference: files named <prefix><name><ext>, de-normalised values, WAV at the config's rate,
chunked generation, the data list, errors."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from projects import make_tiny_project

from modulespack.io import read_raw, read_wav
from modulespack.train.harness import main
from modulespack.train.infer import crossfade, split_chunks

Q = ["--no-cuda", "--quiet"]


def _trained(tmp_path, **kw):
    p = make_tiny_project(tmp_path, subsets=1, **kw)
    assert main(["--epochs", "2", "--lr", "0.01"] + Q, p.dir) == 0
    return p


def _infer(p, out, *argv):
    return main(["--inference", "--trained-model", str(p.dir / "trained_network.pt"),
                 "--output-dir", str(out)] + list(argv) + Q, p.dir)


def _expected(p, name):
    """The model's output for one test utterance, computed here by hand."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("tiny_model_for_test", p.dir / "model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import types
    conf = types.SimpleNamespace(input_reso=[p.reso, p.reso], output_reso=[1 if p.wav_output else p.reso])
    model = mod.Model(p.in_dim, p.out_dim, None, conf)
    model.load_state_dict(torch.load(p.dir / "trained_network.pt", weights_only=True))
    x = np.concatenate([read_raw(p.file("mgc", name), 4), read_raw(p.file("f0", name), 1)], axis=1)
    with torch.no_grad():
        y = model.denormalize_output(model(torch.from_numpy(x)[None]))
    return y[0].numpy()


def test_raw_outputs_are_denormalised_and_named(tmp_path):
    p = _trained(tmp_path)
    out = tmp_path / "gen"
    assert _infer(p, out, "--output-filename-prefix", "vc_") == 0
    names = p.test[0]
    assert sorted(f.name for f in out.iterdir()) == sorted(f"vc_{n}.mgc" for n in names)
    for n in names:
        got = read_raw(out / f"vc_{n}.mgc", p.out_dim)
        assert got.shape == (p.frames[n], p.out_dim)
        np.testing.assert_allclose(got, _expected(p, n), rtol=1e-5, atol=1e-5)


def test_wav_output_is_pcm16_at_config_rate(tmp_path):
    p = _trained(tmp_path, wav_output=True, sr=8000)
    out = tmp_path / "gen"
    assert _infer(p, out) == 0
    import soundfile as sf
    for n in p.test[0]:
        info = sf.info(str(out / f"{n}.wav"))
        assert (info.samplerate, info.subtype, info.frames) == (8000, "PCM_16", p.frames[n] * p.reso)
        wav, _ = read_wav(out / f"{n}.wav")
        np.testing.assert_allclose(wav, _expected(p, n)[:, 0], atol=1.5 / 32768)


def test_chunked_generation_matches_whole(tmp_path):
    p = _trained(tmp_path, wav_output=True)
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    assert _infer(p, whole) == 0
    assert _infer(p, chunked, "--trunc-input-length-for-inference", "7", "--trunc-input-overlap", "2") == 0
    for n in p.test[0]:
        a, _ = read_wav(whole / f"{n}.wav")
        b, _ = read_wav(chunked / f"{n}.wav")
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1.5 / 32768)   # a frame-wise model: chunks change nothing


def test_data_list_selects_utterances(tmp_path):
    p = _trained(tmp_path)
    lst = tmp_path / "only.lst"
    lst.write_text(p.test[0][1] + "\n")
    out = tmp_path / "gen"
    assert _infer(p, out, "--inference-data-list", str(lst)) == 0
    assert [f.name for f in out.iterdir()] == [p.test[0][1] + ".mgc"]


def test_epoch_file_works_for_inference_and_missing_one_is_error(tmp_path, capsys):
    p = _trained(tmp_path)
    out = tmp_path / "gen"
    assert main(["--inference", "--trained-model", str(p.dir / "epoch_001.pt"), "--output-dir", str(out)] + Q,
                p.dir) == 0
    assert len(list(out.iterdir())) == len(p.test[0])
    assert main(["--inference", "--trained-model", str(tmp_path / "none.pt")] + Q, p.dir) == 2
    err = capsys.readouterr().err
    assert "none.pt" in err and "Traceback" not in err


@pytest.mark.parametrize("n, max_len, overlap", [(100, 30, 5), (101, 30, 5), (31, 30, 5), (7, 30, 5),
                                                 (60, 10, 0), (50, 10, 20)])
def test_split_covers_everything_and_crossfade_restores(n, max_len, overlap):
    x = torch.arange(n, dtype=torch.float32).view(1, n, 1)
    chunks, ov = split_chunks(x, max_len, overlap)
    assert all(c.shape[1] <= max_len for c in chunks)
    covered = set()
    hop = max_len - ov
    for i, c in enumerate(chunks):
        covered.update(range(i * hop, i * hop + c.shape[1]))
    assert covered == set(range(n))
    # identical values in the shared part: the cross-fade gives the original back
    np.testing.assert_allclose(crossfade(chunks, ov).numpy(), x.numpy(), rtol=1e-6)
