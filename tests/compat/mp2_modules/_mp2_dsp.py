"""Small numpy signal processing for the stand-in modules (the originals used librosa).

WAV in and out as 16-bit PCM through the standard library; STFT/ISTFT with a periodic Hann
window and centred frames; triangular mel filters; orthonormal DCT-II; Griffin-Lim.
The file starts with ``_`` so the module registry does not look for modules in it.
"""
import io
import wave

import numpy as np

SR = 16000


def read_wav(path, sr=SR):
    """Mono float64 samples in [-1, 1] at `sr` (linear-interpolation resampling if needed)."""
    with wave.open(str(path), 'rb') as w:
        width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if width == 2:
        x = np.frombuffer(raw, '<i2').astype(np.float64) / 32768.0
    elif width == 4:
        x = np.frombuffer(raw, '<i4').astype(np.float64) / 2147483648.0
    elif width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    else:
        raise ValueError(f"{path}: {8 * width}-bit WAV is not supported")
    x = x.reshape(-1, channels).mean(axis=1)
    if rate != sr and len(x):
        t = np.arange(int(round(len(x) * sr / rate))) * (rate / sr)
        x = np.interp(t, np.arange(len(x)), x)
    return x


def wav_bytes(x, sr=SR):
    """16-bit PCM WAV file contents for samples in [-1, 1] (clipped)."""
    pcm = (np.clip(np.asarray(x, np.float64), -1.0, 1.0) * 32767.0).round().astype('<i2')
    buf = io.BytesIO()
    with wave.open(buf, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def hann(n):
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def stft(x, n_fft, hop):
    """Complex STFT, shape (1 + n_fft // 2, 1 + len(x) // hop), frames centred (reflect padding)."""
    pad = n_fft // 2
    x = np.pad(np.asarray(x, np.float64), pad, mode='reflect' if len(x) > pad else 'constant')
    n_frames = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    return np.fft.rfft(x[idx] * hann(n_fft), axis=1).T


def istft(spec, n_fft, hop, length=None):
    """Weighted overlap-add inverse of `stft`."""
    frames = np.fft.irfft(spec.T, n=n_fft, axis=1) * hann(n_fft)
    n = n_fft + hop * (len(frames) - 1)
    idx = (np.arange(n_fft)[None, :] + hop * np.arange(len(frames))[:, None]).ravel()
    out = np.bincount(idx, weights=frames.ravel(), minlength=n)
    norm = np.bincount(idx, weights=np.tile(hann(n_fft) ** 2, len(frames)), minlength=n)
    out /= np.where(norm > 1e-10, norm, 1.0)
    out = out[n_fft // 2:]
    if length is not None:
        out = np.pad(out[:length], (0, max(0, length - len(out))))
    return out


def mel_filters(sr, n_fft, n_mels):
    """Triangular filters evenly spaced on the mel scale, shape (n_mels, 1 + n_fft // 2)."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    edges = hz(np.linspace(mel(0.0), mel(sr / 2), n_mels + 2))
    freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[m] = np.maximum(0, np.minimum(up, down))
    return fb


def dct_matrix(n_out, n_in):
    """Orthonormal DCT-II, shape (n_out, n_in)."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    d = np.cos(np.pi / n_in * (n + 0.5) * k) * np.sqrt(2.0 / n_in)
    d[0] /= np.sqrt(2.0)
    return d


def amp_to_db(a, amin=1e-5, top_db=80.0):
    db = 20.0 * np.log10(np.maximum(amin, a))
    return np.maximum(db, db.max() - top_db) if db.size else db


def db_to_amp(db):
    return 10.0 ** (db / 20.0)


def preemphasis(x, coeff=0.97):
    y = np.array(x, np.float64)
    y[1:] -= coeff * np.asarray(x, np.float64)[:-1]
    return y


def inv_preemphasis(y, coeff=0.97):
    x = np.empty(len(y))
    acc = 0.0
    for i, v in enumerate(np.asarray(y, np.float64)):
        acc = v + coeff * acc
        x[i] = acc
    return x


def trim(x, frame_length, hop, top_db=60.0):
    """Cut leading and trailing frames more than `top_db` below the loudest one."""
    if not len(x):
        return x
    n = max(1, 1 + (len(x) - frame_length) // hop) if len(x) >= frame_length else 1
    rms = np.array([np.sqrt(np.mean(x[i * hop:i * hop + frame_length] ** 2)) for i in range(n)])
    db = amp_to_db(rms, amin=1e-10, top_db=1e9)
    keep = np.nonzero(db > db.max() - top_db)[0]
    if not len(keep):
        return x[:0]
    return x[keep[0] * hop:min(len(x), keep[-1] * hop + frame_length)]


def fix_length(x, n):
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def griffin_lim(mag, n_fft, hop, iters=50, seed=0):
    """A waveform whose STFT magnitude approaches `mag` (shape (1 + n_fft // 2, frames))."""
    rng = np.random.default_rng(seed)
    length = hop * (mag.shape[1] - 1)
    x = istft(mag * np.exp(2j * np.pi * rng.random(mag.shape)), n_fft, hop, length)
    for _ in range(iters):
        spec = stft(x, n_fft, hop)
        spec *= mag / np.maximum(np.abs(spec), 1e-12)   # keep the phase, impose the magnitude
        x = istft(spec, n_fft, hop, length)
    return x


def dominant_frequency(x, sr=SR):
    """The frequency (Hz) of the largest peak of the magnitude spectrum (for checks)."""
    spec = np.abs(np.fft.rfft(np.asarray(x, np.float64) * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))
