import struct

import numpy as np
import pytest

from modulespack.io import FormatError, HTKHeader, parm_kind_name, parse_parm_kind, read_htk, write_htk

from io_helpers import Unconvertible

rng = np.random.default_rng(2)


def hand_made(n, period, dim, kind, data=None):
    """An HTK file built with struct, independently of the module under test."""
    data = rng.standard_normal((n, dim)).astype(np.float32) if data is None else data
    return struct.pack(">iihh", n, period, dim * 4, kind) + data.astype(">f4").tobytes(), data


def test_reads_hand_made_file_with_large_fields(tmp_path):
    # 70000 frames and a 10 ms period both overflow 16-bit fields.
    blob, data = hand_made(70000, 100000, 3, 9)
    p = tmp_path / "big.htk"
    p.write_bytes(blob)
    x, hdr = read_htk(p)
    assert hdr == HTKHeader(n_samples=70000, samp_period=100000, samp_size=12, parm_kind=9)
    assert hdr.dim == 3 and hdr.frame_period == pytest.approx(0.01) and hdr.kind_name == "USER"
    assert x.dtype == np.float32 and x.dtype.isnative and x.shape == (70000, 3)
    np.testing.assert_array_equal(x, data)


def test_writes_same_bytes_as_hand_made(tmp_path):
    blob, data = hand_made(40000, 50000, 13, 6 | 0o100)
    p = tmp_path / "a.mfc"
    hdr = write_htk(p, data, samp_period=50000, parm_kind="MFCC_E")
    assert p.read_bytes() == blob
    assert hdr.n_samples == 40000 and hdr.samp_size == 52


def test_round_trip_1d_and_float64(tmp_path):
    p = tmp_path / "f0.htk"
    write_htk(p, np.linspace(0, 1, 7), samp_period=50000)
    x, hdr = read_htk(p)
    assert x.shape == (7, 1) and hdr.samp_period == 50000 and hdr.parm_kind == 9
    np.testing.assert_allclose(x[:, 0], np.linspace(0, 1, 7), rtol=1e-7)


def test_third_differential_bit_is_not_negative(tmp_path):
    blob, _ = hand_made(2, 100000, 1, -32768 | 9)  # _T sets the int16 sign bit
    p = tmp_path / "t.htk"
    p.write_bytes(blob)
    _, hdr = read_htk(p)
    assert hdr.parm_kind == 0x8009 and hdr.kind_name == "USER_T"


@pytest.mark.parametrize("name,code", [("MFCC_E_D_A", 6 | 0o100 | 0o400 | 0o1000), ("FBANK", 7),
                                       ("PLP_D_0", 11 | 0o20000 | 0o400), ("USER_T", 9 | 0x8000)])
def test_parm_kind_names(name, code):
    assert parse_parm_kind(name) == code
    assert parm_kind_name(code) == name  # HTK's printing order: _D before _0
    assert parse_parm_kind(code) == code


def test_parse_accepts_any_qualifier_order():
    assert parse_parm_kind("MFCC_0_D_A") == parse_parm_kind("mfcc_d_a_0") == 6 | 0o400 | 0o1000 | 0o20000


@pytest.mark.parametrize("bad", ["MFCX", "MFCC_Q", 70000, -1])
def test_bad_parm_kind(bad):
    with pytest.raises(ValueError):
        parse_parm_kind(bad)


@pytest.mark.parametrize("change", [b"\0", -4])
def test_size_mismatch_names_file(tmp_path, change):
    blob, _ = hand_made(10, 100000, 2, 9)
    p = tmp_path / "odd_utt.htk"
    p.write_bytes(blob + change if isinstance(change, bytes) else blob[:change])
    with pytest.raises(FormatError, match=r"odd_utt.htk.*size \d+ bytes does not match"):
        read_htk(p)


def test_too_short_and_bad_header(tmp_path):
    p = tmp_path / "stub.htk"
    p.write_bytes(b"\0" * 7)
    with pytest.raises(FormatError, match="stub.htk.*too short"):
        read_htk(p)
    p.write_bytes(struct.pack(">iihh", 1, 100000, 6, 9) + b"\0" * 6)  # sampSize not a multiple of 4
    with pytest.raises(FormatError, match="stub.htk"):
        read_htk(p)
    p.write_bytes(struct.pack(">iihh", -1, 100000, 4, 9))
    with pytest.raises(FormatError, match="stub.htk"):
        read_htk(p)


@pytest.mark.parametrize("kind", [0, 6 | 0o2000, 9 | 0o10000])  # WAVEFORM, MFCC_C, USER_K
def test_non_float_kinds_refused(tmp_path, kind):
    blob, _ = hand_made(4, 100000, 2, kind)
    p = tmp_path / "k.htk"
    p.write_bytes(blob)
    with pytest.raises(FormatError, match="k.htk.*not supported"):
        read_htk(p)
    with pytest.raises(ValueError):
        write_htk(tmp_path / "w.htk", np.zeros((2, 2)), parm_kind=kind)


def test_write_argument_checks(tmp_path, listing):
    with pytest.raises(ValueError):
        write_htk(tmp_path / "a.htk", np.zeros((2, 9000)))  # 36000 bytes/frame > int16
    with pytest.raises(ValueError):
        write_htk(tmp_path / "a.htk", np.zeros((2, 2)), samp_period=2**31)
    with pytest.raises(ValueError):
        write_htk(tmp_path / "a.htk", np.zeros((2, 2, 2)))
    with pytest.raises(RuntimeError):
        write_htk(tmp_path / "a.htk", Unconvertible())
    assert listing(tmp_path) == []
