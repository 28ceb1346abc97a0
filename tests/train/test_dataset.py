"""Items, lengths, segments, the length cache and mean/std of a project's data, as the toolkit."""
import json
import os
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from projects import make_tiny_project

from modulespack.io import read_raw, read_wav, write_raw, write_wav
from modulespack.train import streams
from modulespack.train.dataset import DataError, UtteranceSet, make_loader, mean_std
from modulespack.train.project import load_config

QUIET = dict(log=lambda *a: None)


def build(p, which="train", cache=None, **kw):
    conf = load_config(p.dir, for_inference=which == "test")
    return conf, UtteranceSet(conf, which, cache_dir=cache or p.dir, **{**QUIET, **kw})


def test_items_are_streams_side_by_side(tmp_path):
    p = make_tiny_project(tmp_path, subsets=2)
    _, ds = build(p)
    assert ds.names == p.all_train and len(ds) == len(p.all_train)
    for i in (0, len(ds) - 1):
        x, y, info, idx = ds[i]
        name = ds.names[i]
        n = p.frames[name]
        assert x.dtype == np.float32 and x.shape == (n, 5) and y.shape == (n, 3) and idx == i
        assert np.array_equal(x[:, :4], read_raw(p.file("mgc", name), 4))
        assert np.array_equal(x[:, 4:], read_raw(p.file("f0", name), 1))
        assert np.array_equal(y, read_raw(p.file("target", name), 3))
        assert info == f"{i},{name},0,{n * 80},0"
        assert ds.lengths[i] == n * 80


def test_waveform_target_is_reso_times_longer(tmp_path):
    p = make_tiny_project(tmp_path, wav_output=True, style="flat")
    _, ds = build(p)
    x, y, _, _ = ds[0]
    name = ds.names[0]
    assert x.shape == (p.frames[name], 5) and y.shape == (p.frames[name] * 80, 1)
    assert np.array_equal(y[:, 0], read_wav(p.file("wav", name))[0])


def test_small_length_differences_are_trimmed_to_the_shortest(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", frames=(30, 30))
    name = p.all_train[0]
    write_raw(read_raw(p.file("target", name), 3)[:-2], p.file("target", name))
    _, ds = build(p)
    x, y, _, _ = ds[0]
    assert x.shape == (28, 5) and y.shape == (28, 3) and ds.lengths[0] == 28 * 80


def test_large_length_difference_names_utterance_and_both_files(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", frames=(30, 30))
    name = p.all_train[1]
    write_raw(read_raw(p.file("f0", name), 1)[:20], p.file("f0", name))
    with pytest.raises(DataError) as e:
        build(p)
    msg = str(e.value)
    assert name in msg and str(p.file("mgc", name)) in msg and str(p.file("f0", name)) in msg
    assert "30 frames" in msg and "20 frames" in msg
    assert "--ignore-length-invalid-data" in msg


def test_ignore_length_invalid_data_leaves_the_utterance_out_as_the_toolkit(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", frames=(30, 30))
    name = p.all_train[1]
    write_raw(read_raw(p.file("f0", name), 1)[:20], p.file("f0", name))
    logged = []
    conf = load_config(p.dir)
    ds = UtteranceSet(conf, "train", cache_dir=p.dir, ignore_invalid=True, log=logged.append)
    assert name not in ds.names and len(ds) == len(p.all_train) - 1 and ds.invalid == 1
    assert name in ds.present[0]                     # still in the statistics, as in the toolkit
    assert any(name in m and "--ignore-length-invalid-data" in m for m in logged)


def test_feature_file_of_the_wrong_size_names_utterance_and_file(tmp_path):
    p = make_tiny_project(tmp_path, style="flat")
    name = p.all_train[2]
    with open(p.file("mgc", name), "ab") as f:
        f.write(b"\0" * 6)
    with pytest.raises(DataError, match=rf"utterance {name} \(.*{name}\.mgc\): size .*\(dim 4 in the config\)"):
        build(p)


def test_minimum_len_skips_and_counts(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", n_train=6, frames=(10, 40), minimum_len=25 * 80)
    _, ds = build(p)
    short = [n for n in p.all_train if p.frames[n] < 25]
    assert short and ds.skipped == len(short)
    assert sorted(ds.names) == sorted(set(p.all_train) - set(short))


def test_truncate_seq_cuts_segments_that_rebuild_the_utterance(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", frames=(33, 33), truncate_seq=10 * 80,
                          minimum_len=5 * 80)
    _, ds = build(p)
    name = p.all_train[0]
    items = [ds[i] for i in range(len(ds)) if ds.names[i] == name]
    # 33 frames -> 10, 10, 10 and a last piece of 3 frames, shorter than minimum_len: dropped.
    assert [it[0].shape[0] for it in items] == [10, 10, 10]
    assert [it[2].split(",")[2:] for it in items] == [["0", "800", "0"], ["1", "800", "800"],
                                                      ["2", "800", "1600"]]
    whole = read_raw(p.file("mgc", name), 4)
    assert np.array_equal(np.concatenate([it[0][:, :4] for it in items]), whole[:30])
    assert np.array_equal(np.concatenate([it[1] for it in items]), read_raw(p.file("target", name), 3)[:30])
    assert ds.skipped == 0


def test_inference_set_is_whole_and_has_empty_targets(tmp_path):
    p = make_tiny_project(tmp_path, truncate_seq=800, minimum_len=10 ** 6)
    _, ds = build(p, "test", inference=True)
    assert ds.names == p.test[0]
    x, y, _, _ = ds[0]
    assert x.shape == (p.frames[ds.names[0]], 5) and y.shape == (0, 3) and y.dtype == np.float32


def test_length_cache_is_the_toolkits_json_and_is_reused(tmp_path, monkeypatch):
    p = make_tiny_project(tmp_path, subsets=2, truncate_seq=800)
    cache = tmp_path / "cache"
    _, ds = build(p, cache=cache)
    assert sorted(os.listdir(cache)) == ["c0_trn_utt_length.dic", "c1_trn_utt_length.dic"]
    entries = json.loads((cache / "c1_trn_utt_length.dic").read_text())
    first = p.train[1][0]
    assert entries[0] == {"length": 800, "seq_name": first, "seg_idx": 0, "start_pos": 0, "info_id": 0}
    assert sum(e["length"] for e in entries if e["seq_name"] == first) == p.frames[first] * 80
    before = {f: os.stat(cache / f).st_mtime_ns for f in os.listdir(cache)}

    def no_measuring(*a):
        raise AssertionError("measured although cached")
    monkeypatch.setattr("modulespack.train.dataset.frames_of", no_measuring)
    _, again = build(p, cache=cache)
    assert again.lengths == ds.lengths and again._infos == ds._infos
    assert {f: os.stat(cache / f).st_mtime_ns for f in os.listdir(cache)} == before
    with pytest.raises(AssertionError, match="measured"):
        build(p, cache=cache, ignore_cache=True)


def test_cache_written_by_the_toolkit_is_read_and_unknown_names_measured(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", n_train=3, frames=(20, 20))
    a, b, c = p.all_train
    # The toolkit keeps segments only; here `a` claims 10 frames, b is absent (measured again).
    (p.dir / "tiny_trn_utt_length.dic").write_text(json.dumps(
        [{"length": 800, "seq_name": a, "seg_idx": 0, "start_pos": 0, "info_id": 0},
         {"length": 800, "seq_name": c, "seg_idx": 0, "start_pos": 0, "info_id": 1}]))
    _, ds = build(p)
    assert dict(zip(ds.names, ds.lengths)) == {a: 800, b: 1600, c: 800}
    assert ds[0][0].shape == (10, 5)


def test_cache_cut_with_another_truncate_seq_is_measured_again(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", frames=(33, 33), truncate_seq=800, minimum_len=500)
    _, ds = build(p)                   # 33 frames: 3 x 10 frames kept, the last 3 dropped from the cache
    assert set(ds.lengths) == {800}
    text = (p.dir / "config.py").read_text()
    (p.dir / "config.py").write_text(text.replace("truncate_seq = 800", "truncate_seq = None"))
    said = []
    conf = load_config(p.dir)
    whole = UtteranceSet(conf, "train", cache_dir=p.dir, log=said.append)
    assert set(whole.lengths) == {33 * 80}                            # not the cached 30 frames
    assert any("another truncate_seq" in m for m in said)
    _, again = build(p)                                               # the cache is now the new cut's
    assert again.lengths == whole.lengths


def test_unreadable_cache_is_measured_again_with_a_message(tmp_path):
    p = make_tiny_project(tmp_path, style="flat")
    (p.dir / "tiny_trn_utt_length.dic").write_text("\x80 not json")
    said = []
    conf = load_config(p.dir)
    ds = UtteranceSet(conf, "train", cache_dir=p.dir, log=said.append)
    assert any("tiny_trn_utt_length.dic is unreadable" in s for s in said)
    assert ds.lengths == [p.frames[n] * 80 for n in p.all_train]
    assert json.loads((p.dir / "tiny_trn_utt_length.dic").read_text())   # rewritten


def test_data_shorter_than_its_cached_length_is_an_error_naming_the_cache(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", frames=(30, 30))
    build(p)
    name = p.all_train[0]
    for s, dim in (("mgc", 4), ("f0", 1), ("target", 3)):
        write_raw(read_raw(p.file(s, name), dim)[:15], p.file(s, name))
    _, ds = build(p)
    with pytest.raises(DataError, match=rf"{name}.*holds 15 frames, 30 expected.*--ignore-cached-file-infor"):
        ds[0]


def test_missing_files_leave_the_utterance_out_with_a_message(tmp_path):
    p = make_tiny_project(tmp_path, style="flat")
    name = p.all_train[1]
    os.remove(p.file("target", name))
    said = []
    ds = UtteranceSet(load_config(p.dir), "train", cache_dir=p.dir, log=said.append)
    assert name not in ds.names and ds.missing == 1 and len(ds) == len(p.all_train) - 1
    assert any(name in s and str(p.file("target", name)) in s for s in said)


def test_one_frame_streams_are_repeated_over_the_utterance(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", truncate_seq=800)
    for name in p.all_train:
        write_raw(np.full((1, 1), 7.0), p.file("f0", name))
    _, ds = build(p)
    assert all((ds[i][0][:, 4] == 7.0).all() for i in range(len(ds)))


# ---------------------------------------------------------------------------- mean / std


def test_mean_std_files_and_values_as_the_toolkit(tmp_path):
    p = make_tiny_project(tmp_path, subsets=2)
    conf, ds = build(p)
    cache = tmp_path / "stats"
    im, isd, om, osd = mean_std(conf, ds, cache, **QUIET)
    names = p.train[0]                       # the toolkit uses its first sub-corpus' statistics
    mgc = np.concatenate([read_raw(p.file("mgc", n), 4) for n in names])
    f0 = np.concatenate([read_raw(p.file("f0", n), 1) for n in names])
    tgt = np.concatenate([read_raw(p.file("target", n), 3) for n in names])
    voiced = f0[f0 > 0]
    np.testing.assert_allclose(im, np.r_[mgc.mean(0), voiced.mean()], rtol=1e-5)
    np.testing.assert_allclose(isd, np.r_[mgc.std(0), voiced.std()], rtol=1e-5)
    np.testing.assert_allclose(om, tgt.mean(0), rtol=1e-5)
    np.testing.assert_allclose(osd, tgt.std(0), rtol=1e-5)
    assert all(a.dtype == np.float32 for a in (im, isd, om, osd))
    assert sorted(os.listdir(cache)) == ["c0_trn_mean_std_input.bin", "c0_trn_mean_std_output.bin"]
    raw = np.fromfile(cache / "c0_trn_mean_std_input.bin", "<f4")
    assert np.array_equal(raw, np.r_[im, isd])


def test_mean_std_files_are_reused_and_wrong_sized_ones_recomputed(tmp_path):
    p = make_tiny_project(tmp_path, style="flat")
    conf, ds = build(p)
    first = mean_std(conf, ds, p.dir, **QUIET)
    path = p.dir / "tiny_trn_mean_std_input.bin"
    write_raw(np.r_[np.full(5, 2.0), np.full(5, 3.0)], path)
    assert np.array_equal(mean_std(conf, ds, p.dir, **QUIET)[1], np.full(5, 3.0, np.float32))
    write_raw(np.zeros(7), path)
    said = []
    again = mean_std(conf, ds, p.dir, log=said.append)
    assert any("holds 7 values, 10 expected" in s for s in said)
    assert all(np.allclose(a, b) for a, b in zip(first, again))


def test_a_kill_between_the_two_mean_std_files_never_pairs_new_with_old(tmp_path, monkeypatch):
    from modulespack.train import normstats
    p = make_tiny_project(tmp_path, style="flat")
    conf, ds = build(p)
    out_path = p.dir / "tiny_trn_mean_std_output.bin"
    write_raw(np.zeros(7), p.dir / "tiny_trn_mean_std_input.bin")      # stale: recomputed
    write_raw(np.r_[np.full(3, 9.0), np.full(3, 9.0)], out_path)          # old, of the right size
    real = normstats.write_raw

    def killed(array, path):
        if path == out_path:
            raise KeyboardInterrupt
        real(array, path)
    monkeypatch.setattr(normstats, "write_raw", killed)
    with pytest.raises(KeyboardInterrupt):
        mean_std(conf, ds, p.dir, **QUIET)
    assert not out_path.exists()
    monkeypatch.setattr(normstats, "write_raw", real)
    assert not np.allclose(mean_std(conf, ds, p.dir, **QUIET)[2], 9.0)


def test_unnormalised_waveform_and_constant_dimension_get_zero_one(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", wav_output=True)
    for name in p.all_train:
        mgc = read_raw(p.file("mgc", name), 4)
        mgc[:, 2] = 5.0
        write_raw(mgc, p.file("mgc", name))
    conf, ds = build(p)
    im, isd, om, osd = mean_std(conf, ds, p.dir, **QUIET)
    assert im[2] == 5.0 and isd[2] == 1.0
    assert (om, osd) == (np.zeros(1, np.float32), np.ones(1, np.float32))


# ---------------------------------------------------------------------------- batches


def test_batches_are_zero_padded_to_the_longest(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", n_train=4, frames=(10, 40))
    _, ds = build(p)
    x, y, infos, idx = next(iter(make_loader(ds, batch_size=4, shuffle=False, num_workers=0)))
    longest = max(p.frames[n] for n in p.all_train)
    assert x.shape == (4, longest, 5) and y.shape == (4, longest, 3) and x.dtype == torch.float32
    assert idx == [0, 1, 2, 3] and infos == [ds[i][2] for i in range(4)]
    for k in range(4):
        n = p.frames[ds.names[k]]
        assert torch.equal(x[k, :n], torch.from_numpy(ds[k][0])) and not x[k, n:].any()
        assert not y[k, n:].any()


def test_block_shuffle_by_length_batches_similar_lengths_and_is_seeded_per_epoch(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", n_train=24, frames=(5, 80))
    _, ds = build(p)
    loader = make_loader(ds, batch_size=2, shuffle=True, num_workers=0,
                         sampler="block_shuffle_by_length", seed=3)
    def epoch(e):
        loader.sampler.set_epoch(e)
        return [i for b in loader for i in b[3]]
    e0, e1 = epoch(0), epoch(1)
    assert sorted(e0) == list(range(24)) and e0 != e1 and epoch(0) == e0
    rank = {i: r for r, i in enumerate(np.argsort(ds.lengths))}
    # blocks of 4 x batch size hold neighbours in length order
    assert all(max(rank[i] for i in e0[k:k + 8]) - min(rank[i] for i in e0[k:k + 8]) == 7
               for k in range(0, 24, 8))


def test_seedless_block_shuffle_draws_from_pythons_random_as_the_toolkit(tmp_path):
    import random
    p = make_tiny_project(tmp_path, style="flat", n_train=12)
    _, ds = build(p)
    loader = make_loader(ds, batch_size=3, shuffle=True, num_workers=0, sampler="block_shuffle_by_length")
    random.seed(5)
    a = [i for b in loader for i in b[3]]
    random.seed(5)
    assert [i for b in loader for i in b[3]] == a


def test_workers_give_the_same_batches(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", n_train=6, truncate_seq=1200)
    _, ds = build(p)
    pickle.dumps(ds)
    one = list(make_loader(ds, batch_size=2, shuffle=False, num_workers=0))
    two = list(make_loader(ds, batch_size=2, shuffle=False, num_workers=2))
    assert len(one) == len(two)
    for a, b in zip(one, two):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2:] == b[2:]


def test_input_trans_fns_apply_per_stream_as_the_toolkit(tmp_path):
    p = make_tiny_project(tmp_path, subsets=1)
    with open(p.dir / "config.py", "a") as f:
        f.write("def double(x):\n    return x * 2\n"
                "def shorten(x):\n    return x[:3]\n"
                "input_trans_fns = [[double, shorten]]\n")   # merge style: one list per corpus
    _, ds = build(p)
    x, _, _, _ = ds[0]
    name = ds.names[0]
    assert np.array_equal(x[:, :4], 2 * read_raw(p.file("mgc", name), 4))
    assert np.array_equal(x[:, 4:], read_raw(p.file("f0", name), 1))   # length-changing: ignored


def test_the_test_set_takes_test_trans_fns_not_the_training_ones(tmp_path):
    p = make_tiny_project(tmp_path, subsets=1)
    with open(p.dir / "config.py", "a") as f:
        f.write("def double(x):\n    return x * 2\n"
                "def triple(x):\n    return x * 3\n"
                "input_trans_fns = [[double, double]]\n"          # training augmentation
                "test_input_trans_fns = [[triple, triple]]\n")
    _, ds = build(p, "test", inference=True, truncate=False)
    x, _, _, _ = ds[0]
    assert np.array_equal(x[:, :4], 3 * read_raw(p.file("mgc", ds.names[0]), 4))
    (p.dir / "config.py").write_text((p.dir / "config.py").read_text().replace("test_input_trans_fns", "unused"))
    _, ds = build(p, "test", inference=True, truncate=False)
    assert np.array_equal(ds[0][0][:, :4], read_raw(p.file("mgc", ds.names[0]), 4))   # none: as read


def test_unknown_set_or_sampler(tmp_path):
    p = make_tiny_project(tmp_path, with_val=False, style="flat")
    conf, ds = build(p)
    with pytest.raises(ValueError, match="has no val set"):
        UtteranceSet(conf, "val", cache_dir=p.dir, **QUIET)
    with pytest.raises(ValueError, match="--sampler 'random_len'"):
        make_loader(ds, batch_size=2, shuffle=True, num_workers=0, sampler="random_len")


def test_wav_segments_rebuild_the_waveform_and_channels_are_checked(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", wav_output=True, frames=(25, 25), truncate_seq=800)
    _, ds = build(p)
    name = ds.names[0]
    wav = read_wav(p.file("wav", name))[0]
    ys = [ds[i][1][:, 0] for i in range(len(ds)) if ds.names[i] == name]
    assert [len(y) for y in ys] == [800, 800, 400]
    assert np.array_equal(np.concatenate(ys), wav)
    assert streams.frames_of(str(p.file("wav", name)), ds.outputs[0], name) == 2000
    write_wav(p.file("wav", name), np.zeros((2000, 2), np.float32), 16000)
    with pytest.raises(DataError, match="2 channel"):
        streams.frames_of(str(p.file("wav", name)), ds.outputs[0], name)


def test_a_wav_at_another_rate_than_wav_samp_rate_names_the_file(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", wav_output=True)
    name = p.all_train[1]
    wav, _ = read_wav(p.file("wav", name))
    write_wav(p.file("wav", name), wav, 22050)
    with pytest.raises(DataError) as e:
        build(p)
    assert name in str(e.value) and str(p.file("wav", name)) in str(e.value)
    assert "22050 Hz" in str(e.value) and "wav_samp_rate" in str(e.value) and "16000" in str(e.value)


# ---------------------------------------------------------------------------- parity


TOOLKIT = os.environ.get("MODULESPACK_TOOLKIT")   # a checkout of project-NN-Pytorch-scripts


@pytest.mark.skipif(not TOOLKIT, reason="set MODULESPACK_TOOLKIT to the toolkit's checkout")
@pytest.mark.parametrize("kw", [dict(), dict(wav_output=True, truncate_seq=1600, minimum_len=900, frames=(5, 45))])
def test_same_items_caches_and_statistics_as_the_toolkit(tmp_path, monkeypatch, kw):
    monkeypatch.syspath_prepend(TOOLKIT)
    nii = pytest.importorskip("core_scripts.data_io.customize_dataset")
    p = make_tiny_project(tmp_path, subsets=2, **kw)
    name = p.all_train[0]                                   # a small length difference to trim
    if p.wav_output:
        write_wav(p.file("wav", name), read_wav(p.file("wav", name))[0][:-100], p.sr)
    else:
        write_raw(read_raw(p.file("target", name), 3)[:-2], p.file("target", name))
    conf, ds = build(p, cache=tmp_path / "ours")
    ours = mean_std(conf, ds, tmp_path / "ours", **QUIET)
    m, theirs_dir = conf.module, tmp_path / "theirs"
    theirs_dir.mkdir()
    monkeypatch.chdir(p.dir)
    tk = nii.NII_MergeDataSetLoader(
        m.trn_set_name, m.trn_list, m.input_dirs, m.input_exts, m.input_dims, m.input_reso,
        m.input_norm, m.output_dirs, m.output_exts, m.output_dims, m.output_reso, m.output_norm,
        str(theirs_dir) + "/", params={"batch_size": 1, "shuffle": False, "num_workers": 0},
        truncate_seq=m.truncate_seq, min_seq_len=m.minimum_len, save_mean_std=True,
        wav_samp_rate=m.wav_samp_rate)
    for a, b in zip(ours, tk.get_data_mean_std()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    items = [s.get_dataset()[i] for s in tk.get_dataset() for i in range(len(s.get_dataset()))]
    assert len(items) == len(ds)
    for k, (x, y, info, _) in enumerate(items):
        assert np.array_equal(x, ds[k][0]) and np.array_equal(y, ds[k][1])
        assert info.split(",")[1:] == ds[k][2].split(",")[1:]
    for f in ("c0_trn_utt_length.dic", "c1_trn_utt_length.dic"):
        assert json.loads((theirs_dir / f).read_text()) == json.loads((tmp_path / "ours" / f).read_text())


def test_file_removed_after_caching_is_an_error_naming_it(tmp_path):
    p = make_tiny_project(tmp_path, style="flat")
    build(p)
    name = p.all_train[0]
    os.remove(p.file("f0", name))
    _, ds = build(p)                       # the cache holds it: not stat'ed again
    with pytest.raises(DataError, match=rf"{name} \(.*{name}\.f0\): file not found .*--ignore-cached"):
        ds[0]
    _, fresh = build(p, ignore_cache=True)
    assert name not in fresh.names and fresh.missing == 1
