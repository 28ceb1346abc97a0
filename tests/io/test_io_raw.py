import numpy as np
import pytest

from modulespack.io import FormatError, append_raw, raw_length, read_raw, write_raw
from modulespack.io import raw as rawmod

from io_helpers import Unconvertible

rng = np.random.default_rng(0)


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<f8", ">f8", "<i2", ">i4", "<i8"])
@pytest.mark.parametrize("dim", [1, 3, 60])
def test_round_trip_and_bytes_on_disk(tmp_path, dtype, dim):
    a = (rng.standard_normal((17, dim)) * 100).astype(dtype)
    p = tmp_path / "x.raw"
    write_raw(a, p, dtype=dtype)
    # No header, row-major, in the requested byte order.
    assert p.read_bytes() == a.astype(dtype).tobytes(order="C")
    b = read_raw(p, dim=dim, dtype=dtype)
    assert b.shape == (17, dim)
    assert b.dtype.isnative and b.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(b, a)


def test_default_is_float32_little_endian(tmp_path):
    p = tmp_path / "x.raw"
    write_raw(np.array([[1.0, -2.5]]), p)  # float64 in, float32 on disk
    assert p.read_bytes() == np.array([1.0, -2.5], "<f4").tobytes()
    assert read_raw(p, 2).dtype == np.float32


def test_dim_one_shape_and_squeeze(tmp_path):
    p = tmp_path / "lf0.raw"
    write_raw(np.arange(5, dtype=np.float32), p)
    assert read_raw(p).shape == (5, 1)
    assert read_raw(p, squeeze=True).shape == (5,)
    assert read_raw(p, dim=5, squeeze=True).shape == (1, 5)  # only dim 1 is squeezed
    write_raw(np.array([7.0]), p)
    assert read_raw(p, squeeze=True).shape == (1,)


def test_empty_file(tmp_path):
    p = tmp_path / "e.raw"
    p.write_bytes(b"")
    assert read_raw(p, 4).shape == (0, 4)
    assert raw_length(p, 4) == 0


def test_size_not_multiple_names_file_and_sizes(tmp_path):
    p = tmp_path / "bad_utt.mgc"
    p.write_bytes(b"\0" * 28)  # 7 floats
    with pytest.raises(FormatError) as e:
        read_raw(p, dim=3)
    msg = str(e.value)
    assert "bad_utt.mgc" in msg and "28" in msg and "12" in msg
    assert isinstance(e.value, ValueError)
    with pytest.raises(FormatError, match="bad_utt.mgc"):
        raw_length(p, 3)
    with pytest.raises(FormatError, match="bad_utt.mgc"):
        read_raw(p, dim=1, dtype="<f8")


def test_raw_length(tmp_path):
    p = tmp_path / "x.raw"
    write_raw(np.zeros((42, 25)), p)
    assert raw_length(p, 25) == 42
    assert raw_length(p, 5) == 210
    assert raw_length(p, 25, "<f8") == 21


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3"])
def test_bad_dim(tmp_path, bad):
    p = tmp_path / "x.raw"
    write_raw(np.zeros(6), p)
    with pytest.raises(ValueError):
        read_raw(p, bad)


def test_refuses_silent_truncation_and_bad_shapes(tmp_path):
    with pytest.raises(TypeError):
        write_raw(np.array([1.5]), tmp_path / "i.raw", dtype="<i2")
    with pytest.raises(ValueError):
        write_raw(np.zeros((2, 2, 2)), tmp_path / "cube.raw")
    assert not (tmp_path / "i.raw").exists() and not (tmp_path / "cube.raw").exists()


def test_write_conversion_failure_leaves_nothing(tmp_path, listing):
    with pytest.raises(RuntimeError):
        write_raw(Unconvertible(), tmp_path / "x.raw")
    assert listing(tmp_path) == []


def test_failure_mid_write_is_atomic(tmp_path, listing, monkeypatch):
    p = tmp_path / "x.raw"
    write_raw(np.ones((4, 2)), p)
    old = p.read_bytes()

    def half_then_fail(f, a):
        f.write(a.tobytes()[: a.nbytes // 2])
        f.flush()
        raise OSError("device full")

    monkeypatch.setattr(rawmod, "_write_array", half_then_fail)
    with pytest.raises(OSError):
        write_raw(np.zeros((1000, 2)), p)
    assert p.read_bytes() == old
    with pytest.raises(OSError):
        write_raw(np.zeros((1000, 2)), tmp_path / "new.raw")
    assert listing(tmp_path) == ["x.raw"]


def test_append(tmp_path):
    p = tmp_path / "s.raw"
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    append_raw(a, p)  # creates the file
    append_raw(b, p)
    np.testing.assert_array_equal(read_raw(p, 4), np.vstack([a, b]).astype(np.float32))


def test_append_to_misaligned_file_is_refused(tmp_path):
    p = tmp_path / "s.raw"
    write_raw(np.zeros((1, 3)), p)  # 12 bytes, not a multiple of 4 floats
    with pytest.raises(FormatError, match="s.raw"):
        append_raw(np.zeros((2, 4)), p)
    assert p.stat().st_size == 12


def test_append_failure_restores_length(tmp_path, monkeypatch):
    p = tmp_path / "s.raw"
    write_raw(np.arange(8.0).reshape(4, 2), p)
    old = p.read_bytes()

    def half_then_fail(f, a):
        f.write(a.tobytes()[:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(rawmod, "_write_array", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        append_raw(np.zeros((100, 2)), p)
    assert p.read_bytes() == old
