"""The corpus maker: layout, feature files consistent with the audio, lists, resuming."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from modulespack.cli import main
from modulespack.io import raw_length, read_list, read_raw, read_wav

pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")


def test_corpus_make_layout_features_lists_and_resume(tmp_path, capsys):
    out = tmp_path / "corpus"
    args = ["corpus", "make", "--voices", "rms", "slt", "--sentences", "3", "--out", str(out), "--quiet",
            "--workers", "2"]
    assert main(args) == 0
    assert "6 utterances (6 made, 0 already there)" in capsys.readouterr().out
    names = sorted(p.stem for p in (out / "wav_16k").glob("*.wav"))
    assert names == [f"{v}_{i:04d}" for v in ("rms", "slt") for i in range(3)]
    dims = json.loads((out / "features.json").read_text())["dims"]
    assert dims["mgc"] == 25 and dims["mel"] == 80 and dims["f0"] == 1
    for name in names:
        wav, sr = read_wav(out / "wav_16k" / f"{name}.wav")
        assert sr == 16000 and np.abs(wav).max() > 0.05
        frames = raw_length(out / "f0" / f"{name}.f0", 1)
        # 5 ms frames over the whole file, for every feature stream
        assert abs(frames - len(wav) / 80) <= 2
        for feat in ("mgc", "ap", "mel"):
            assert raw_length(out / feat / f"{name}.{feat}", dims[feat]) in (frames, frames - 1, frames + 1)
        f0 = read_raw(out / "f0" / f"{name}.f0", 1, squeeze=True)
        voiced = f0[f0 > 0]
        assert len(voiced) > 0.2 * len(f0)
        assert (80 < np.median(voiced) < 160) if name.startswith("rms") else (150 < np.median(voiced) < 260)
    train, val, test = (read_list(out / "scp" / f"{s}.lst") for s in ("train", "val", "test"))
    assert sorted(train + val + test) == names
    sent = lambda lst: {n.split("_", 1)[1] for n in lst}  # noqa: E731
    assert not (sent(train) & sent(val) or sent(train) & sent(test) or sent(val) & sent(test))
    texts = (out / "text.tsv").read_text().splitlines()
    assert len(texts) == 3 and all("\t" in t for t in texts)

    # a second run makes nothing; a deleted feature file is remade, nothing else is touched
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    (out / "mgc" / "slt_0001.mgc").unlink()
    assert main(args) == 0
    assert "(1 made, 5 already there)" in capsys.readouterr().out
    assert (out / "mgc" / "slt_0001.mgc").exists()
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def test_corpus_bad_voice_is_a_clear_error(tmp_path, capsys):
    assert main(["corpus", "make", "--voices", "bob", "--out", str(tmp_path / "c")]) == 2
    assert "unknown flite voice(s) ['bob']" in capsys.readouterr().err
