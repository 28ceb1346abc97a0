import io
import shutil
import subprocess
import warnings

import numpy as np
import pytest

# WAV support needs the "speech" extra (scipy writes, soundfile reads).
wavfile = pytest.importorskip("scipy.io.wavfile")
pytest.importorskip("soundfile")

from modulespack.io import FormatError, read_wav, read_wav_bytes, wav_to_bytes, write_wav
from modulespack.io import wav as wavmod

from io_helpers import Unconvertible

rng = np.random.default_rng(1)
SCIPY_DTYPE = {"PCM_16": np.int16, "PCM_32": np.int32, "FLOAT": np.float32}
TOL = {"PCM_16": 1 / 32768, "PCM_32": 1e-7, "FLOAT": 0}


def noise(frames, channels=1, amp=0.9):
    shape = (frames,) if channels == 1 else (frames, channels)
    return (rng.uniform(-amp, amp, shape)).astype(np.float32)


def scipy_read(path_or_file):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a chunk scipy does not understand would warn
        return wavfile.read(path_or_file)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_32", "FLOAT"])
@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("sr", [8000, 16000, 22050, 48000, 12345])
def test_round_trip_and_scipy(tmp_path, subtype, channels, sr):
    x = noise(1000, channels)
    p = tmp_path / "a.wav"
    write_wav(p, x, sr, subtype=subtype)
    y, sr2 = read_wav(p)
    assert sr2 == sr and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, rtol=0, atol=TOL[subtype] + 1e-9)
    sr3, z = scipy_read(p)
    assert sr3 == sr and z.dtype == SCIPY_DTYPE[subtype] and z.shape == x.shape
    if subtype == "PCM_16":
        np.testing.assert_array_equal(z, np.rint(x.astype(np.float64) * 32768).astype(np.int16))
    elif subtype == "FLOAT":
        np.testing.assert_array_equal(z, x)


def test_stereo_channels_kept_apart(tmp_path):
    left, right = np.full(100, 0.5, np.float32), np.full(100, -0.25, np.float32)
    write_wav(tmp_path / "s.wav", np.stack([left, right], axis=1), 44100)
    y, _ = read_wav(tmp_path / "s.wav")
    assert y.shape == (100, 2)
    np.testing.assert_array_equal(y[:, 0], 0.5)
    np.testing.assert_array_equal(y[:, 1], -0.25)


def test_pcm_clips_rather_than_wraps(tmp_path):
    x = np.array([1.5, -1.5, 1.0, -1.0, 0.5], np.float32)
    write_wav(tmp_path / "a.wav", x, 8000, "PCM_16")
    assert scipy_read(tmp_path / "a.wav")[1].tolist() == [32767, -32768, 32767, -32768, 16384]
    write_wav(tmp_path / "b.wav", x, 8000, "PCM_32")
    assert scipy_read(tmp_path / "b.wav")[1].tolist() == [2**31 - 1, -(2**31), 2**31 - 1, -(2**31), 2**30]
    write_wav(tmp_path / "c.wav", x, 8000, "FLOAT")
    np.testing.assert_array_equal(read_wav(tmp_path / "c.wav")[0], x)


def test_integer_input_is_full_scale_pcm(tmp_path):
    pcm = np.array([0, 1, -1, 32767, -32768, 1234], np.int16)
    write_wav(tmp_path / "a.wav", pcm, 16000)
    np.testing.assert_array_equal(scipy_read(tmp_path / "a.wav")[1], pcm)


def test_empty_signal(tmp_path):
    write_wav(tmp_path / "a.wav", np.zeros(0, np.float32), 16000)
    y, sr = read_wav(tmp_path / "a.wav")
    assert y.shape == (0,) and sr == 16000


def test_bytes_helpers():
    x = noise(500, 2)
    body = wav_to_bytes(x, 16000, subtype="PCM_32")
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
    y, sr = read_wav_bytes(body)
    assert sr == 16000
    np.testing.assert_allclose(y, x, atol=1e-7)
    assert scipy_read(io.BytesIO(body))[1].dtype == np.int32


def test_overwrite_existing(tmp_path, listing):
    p = tmp_path / "a.wav"
    write_wav(p, noise(100), 16000)
    write_wav(p, noise(50), 8000)
    assert read_wav(p)[0].shape == (50,) and read_wav(p)[1] == 8000
    assert listing(tmp_path) == ["a.wav"]


@pytest.mark.parametrize("bad", [
    dict(subtype="PCM_24"), dict(data=np.zeros((2, 2, 2))), dict(data=np.array([0.0, np.nan])),
    dict(sr=0), dict(data=np.zeros((10, 0))),
])
def test_bad_arguments_raise_value_error(tmp_path, listing, bad):
    args = dict(data=np.zeros(10), sr=16000, subtype="PCM_16") | bad
    with pytest.raises(ValueError):
        write_wav(tmp_path / "a.wav", args["data"], args["sr"], subtype=args["subtype"])
    assert listing(tmp_path) == []


def test_sample_rate_types(tmp_path):
    write_wav(tmp_path / "a.wav", np.zeros(4), 16000.0)
    write_wav(tmp_path / "b.wav", np.zeros(4), np.int64(16000))
    assert read_wav(tmp_path / "a.wav")[1] == read_wav(tmp_path / "b.wav")[1] == 16000
    with pytest.raises(TypeError):
        write_wav(tmp_path / "c.wav", np.zeros(4), 16000.5)
    with pytest.raises(TypeError):
        write_wav(tmp_path / "c.wav", np.array(["a"]), 16000)


# -- broken files -----------------------------------------------------------

@pytest.fixture
def good_bytes():
    return wav_to_bytes(noise(16000), 16000)


def test_truncated_in_data(tmp_path, good_bytes):
    p = tmp_path / "cut_utt.wav"
    p.write_bytes(good_bytes[: len(good_bytes) // 2])
    with pytest.raises(FormatError, match="cut_utt.wav.*truncated"):
        read_wav(p)
    y, _ = read_wav(p, allow_truncated=True)
    assert 0 < len(y) < 16000


@pytest.mark.parametrize("cut", [30, 44])
def test_truncated_in_or_just_after_header(tmp_path, good_bytes, cut):
    p = tmp_path / "cut_utt.wav"
    p.write_bytes(good_bytes[:cut])
    with pytest.raises(FormatError, match="cut_utt.wav"):
        read_wav(p)


def test_streamed_placeholder_length_is_not_truncation(good_bytes):
    b = bytearray(good_bytes)
    assert b[36:40] == b"data"
    b[40:44] = (0xFFFFFFFF).to_bytes(4, "little")
    y, _ = read_wav_bytes(bytes(b))
    assert len(y) == 16000


def test_empty_file(tmp_path):
    p = tmp_path / "nothing.wav"
    p.write_bytes(b"")
    with pytest.raises(FormatError, match="nothing.wav.*empty"):
        read_wav(p)
    with pytest.raises(ValueError, match="upload"):
        read_wav_bytes(b"", name="upload")


def test_not_a_wav(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("this is plainly not audio, just some text in a file\n" * 10)
    with pytest.raises(FormatError, match="notes.wav"):
        read_wav(p)
    with pytest.raises(FormatError, match="upload.wav"):
        read_wav_bytes(p.read_bytes(), name="upload.wav")


def test_other_audio_format_is_not_a_wav(tmp_path):
    import soundfile as sf

    p = tmp_path / "a.flac"
    sf.write(p, np.zeros(100), 16000, format="FLAC")
    with pytest.raises(FormatError, match="a.flac.*not a WAV.*FLAC"):
        read_wav(p)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "absent.wav")


# -- atomicity --------------------------------------------------------------

def test_conversion_failure_leaves_nothing(tmp_path, listing):
    with pytest.raises(RuntimeError):
        write_wav(tmp_path / "a.wav", Unconvertible(), 16000)
    assert listing(tmp_path) == []


def test_failure_mid_write_keeps_old_file_and_no_temp(tmp_path, listing, monkeypatch):
    p = tmp_path / "a.wav"
    write_wav(p, noise(100), 16000)
    old = p.read_bytes()

    def half_then_fail(target, samples, rate):
        target.write(b"RIFF\0\0\0\0WAVE")
        raise OSError("device full")

    monkeypatch.setattr(wavmod, "_write", half_then_fail)
    with pytest.raises(OSError):
        write_wav(p, noise(1000), 16000)
    with pytest.raises(OSError):
        write_wav(tmp_path / "b.wav", noise(1000), 16000)
    assert p.read_bytes() == old
    assert listing(tmp_path) == ["a.wav"]


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")
def test_flite_output_reads(tmp_path):
    p = tmp_path / "hello.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", "hello world", "-o", str(p)], check=True, timeout=60)
    y, sr = read_wav(p)
    assert sr == 16000
    assert y.ndim == 1 and len(y) > 8000  # "hello world" lasts more than half a second
    assert np.abs(y).max() > 0.01
