import numpy as np
import pytest

from modulespack.io import FormatError, MeanStd, denormalise, normalise, read_raw, write_raw

rng = np.random.default_rng(3)


def chunks(total, dim, offset=0.0, scale=1.0):
    sizes = [1, 0, 37, 500, 2, 1000, 3]
    return [(offset + scale * rng.standard_normal((n, dim))) for n in sizes[:total]]


@pytest.mark.parametrize("offset,scale", [(0.0, 1.0), (1e6, 1e-2), (-300.0, 50.0)])
def test_matches_numpy_over_concatenation(offset, scale):
    parts = chunks(7, 5, offset, scale)
    acc = MeanStd()
    for p in parts:
        acc.update(p.astype(np.float32))
    ref = np.concatenate(parts).astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(acc.mean, ref.mean(axis=0), rtol=1e-6)
    # A large offset with a small spread defeats sum-of-squares; Welford/Chan must hold.
    np.testing.assert_allclose(acc.std, ref.std(axis=0), rtol=1e-6)
    assert acc.count.tolist() == [len(ref)] * 5


def test_merge_equals_single_pass():
    parts = chunks(7, 3, 10.0, 2.0)
    whole, a, b = MeanStd(), MeanStd(), MeanStd()
    for i, p in enumerate(parts):
        whole.update(p)
        (a if i % 2 else b).update(p)
    merged = a.merge(b).merge(MeanStd())  # merging an empty accumulator changes nothing
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.std, whole.std, rtol=1e-10)
    assert MeanStd().merge(whole).count.tolist() == whole.count.tolist()


def test_voiced_only_f0():
    f0s = [np.where(rng.random(n) < 0.6, rng.uniform(80, 300, n), 0.0) for n in (50, 1, 300, 7)]
    acc = MeanStd(voiced_only=True)
    for f in f0s:
        acc.update(f)
    voiced = np.concatenate(f0s)
    voiced = voiced[voiced > 0]
    assert acc.count.tolist() == [len(voiced)]
    np.testing.assert_allclose(acc.mean, [voiced.mean()], rtol=1e-6)
    np.testing.assert_allclose(acc.std, [voiced.std()], rtol=1e-6)
    everything = MeanStd()
    for f in f0s:
        everything.update(f)
    assert everything.mean[0] < acc.mean[0]  # the zeros would pull the mean down


def test_voiced_only_counts_per_dimension():
    x = np.array([[100.0, 0.0], [0.0, 5.0], [200.0, 7.0]])
    acc = MeanStd(voiced_only=True)
    acc.update(x)
    assert acc.count.tolist() == [2, 2]
    np.testing.assert_allclose(acc.mean, [150.0, 6.0])
    np.testing.assert_allclose(acc.std, [50.0, 1.0])


def test_no_data_errors():
    with pytest.raises(ValueError):
        MeanStd().mean
    acc = MeanStd(voiced_only=True)
    acc.update(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="dimensions"):
        acc.std


def test_argument_checks():
    acc = MeanStd(3)
    with pytest.raises(ValueError):
        acc.update(np.zeros((2, 4)))
    with pytest.raises(ValueError):
        acc.update(np.array([[1.0, np.nan, 2.0]]))
    with pytest.raises(ValueError):
        MeanStd(voiced_only=True).update(np.array([100.0, np.inf]))
    with pytest.raises(ValueError):
        acc.merge(MeanStd(voiced_only=True))
    with pytest.raises(ValueError):
        MeanStd(2).merge(MeanStd(3))


def test_save_load_layout(tmp_path):
    acc = MeanStd()
    acc.update(np.array([[1.0, 10.0, -4.0], [3.0, 30.0, -4.0]]))
    p = tmp_path / "norm.raw"
    acc.save(p)
    # Raw float32: the three means, then the three stds.
    np.testing.assert_array_equal(read_raw(p, squeeze=True), [2.0, 20.0, -4.0, 1.0, 10.0, 0.0])
    mean, std = MeanStd.load(p, 3)
    assert mean.dtype == np.float32 and mean.tolist() == [2.0, 20.0, -4.0] and std.tolist() == [1.0, 10.0, 0.0]
    with pytest.raises(FormatError, match="norm.raw"):
        MeanStd.load(p, 1)


def test_from_files(tmp_path):
    parts = chunks(4, 2, 5.0, 3.0)
    paths = []
    for i, part in enumerate(parts):
        paths.append(tmp_path / f"u{i}.raw")
        write_raw(part, paths[-1])
    acc = MeanStd.from_files(paths, dim=2)
    ref = np.concatenate(parts).astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(acc.mean, ref.mean(0), rtol=1e-6)
    np.testing.assert_allclose(acc.std, ref.std(0), rtol=1e-6)


def test_normalise_round_trip_and_floor():
    x = rng.standard_normal((20, 3)).astype(np.float32) * [1, 5, 0] + [0, 2, 7]
    x = x.astype(np.float32)
    mean, std = x.mean(0).astype(np.float64), x.std(0).astype(np.float64)
    assert std[2] == 0
    y = normalise(x, mean, std)
    assert y.dtype == np.float32 and np.isfinite(y).all()
    np.testing.assert_allclose(y[:, :2].std(0), 1, rtol=1e-5)
    np.testing.assert_array_equal(y[:, 2], 0)
    np.testing.assert_allclose(denormalise(y, mean, std), x, rtol=1e-5, atol=1e-5)
    assert normalise(np.array([3.0]), 1.0, 0.0, floor=0.5).tolist() == [4.0]
