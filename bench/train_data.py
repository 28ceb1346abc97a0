"""Generated data and a project folder for bench/train_speed.py: the hn-nsf layout on flite speech.

    make_nsf_data(root, n_train=8, n_val=3)  ->  root/wav_16k/*.wav      16 kHz 16-bit PCM
                                                 root/5ms/melspec/*.mfbsp raw float32 [frames, 80] log-mel
                                                 root/5ms/f0/*.f0         raw float32 [frames] Hz, 0 unvoiced
                                                 root/scp/train.lst val.lst test.lst
    write_nsf_config(project_dir, data_root)  ->  project_dir/config.py for that data (the toolkit's
                                                 merge style, as the real hn-nsf config.py)

Features are our own (librosa mel, pyworld DIO + StoneMask F0), 80 samples per frame (5 ms at
16 kHz). Every stream is cut to the same number of frames and the waveform to exactly 80 samples a
frame, so neither tool has to trim anything and both read identical data.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from modulespack.io import read_list, write_list, write_raw, write_wav
from modulespack.speech.dsp import Resample
from modulespack.speech.sentences import make_sentences
from modulespack.speech.tts import Flite

RATE = 16000
HOP = 80          # samples per frame: 5 ms at 16 kHz, the hn-nsf input resolution
N_MELS = 80
VOICES = ("slt", "rms", "awb", "kal16")


def log_mel(wav: np.ndarray) -> np.ndarray:
    import librosa
    mel = librosa.feature.melspectrogram(y=wav, sr=RATE, n_fft=1024, win_length=320, hop_length=HOP,
                                         n_mels=N_MELS, fmin=0.0, fmax=RATE / 2, power=1.0)
    return np.log(np.maximum(mel, 1e-5)).T.astype(np.float32)


def f0_hz(wav: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # pyworld's import warns about pkg_resources: not ours to fix
        warnings.simplefilter("ignore")
        import pyworld
    x = wav.astype(np.float64)
    f0, t = pyworld.dio(x, RATE, frame_period=1000.0 * HOP / RATE)
    return pyworld.stonemask(x, f0, t, RATE).astype(np.float32)


def _synth(tts: Flite, resample: Resample, text: str, voice: str) -> np.ndarray:
    out = tts.run(text=text, voice=voice)
    return resample.run(wav=out["wav"], sr=out["sr"])["wav"]


def make_nsf_data(root: str | Path, n_train: int = 8, n_val: int = 3, seed: int = 13) -> dict[str, list[str]]:
    """Synthesise n_train + n_val utterances (voices in turn, distinct sentences) and their features.

    Returns {"train": names, "val": names}; the test list is the validation list (inference input).
    """
    root = Path(root)
    for sub in ("wav_16k", "5ms/melspec", "5ms/f0", "scp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    tts, resample = Flite(voice="slt"), Resample(target_sr=RATE)
    tts.setup()
    names = []
    for i, text in enumerate(make_sentences(n_train + n_val, seed=seed)):
        voice = VOICES[i % len(VOICES)]
        name = f"{voice}_{i:04d}"
        wav = _synth(tts, resample, text, voice)
        mel, f0 = log_mel(wav), f0_hz(wav)
        frames = min(len(mel), len(f0), len(wav) // HOP)
        # written as 16-bit PCM: both tools read back exactly these quantised samples
        write_wav(root / "wav_16k" / f"{name}.wav", wav[:frames * HOP], RATE, subtype="PCM_16")
        write_raw(mel[:frames], root / "5ms/melspec" / f"{name}.mfbsp")
        write_raw(f0[:frames], root / "5ms/f0" / f"{name}.f0")
        names.append(name)
    split = {"train": names[:n_train], "val": names[n_train:]}
    write_list(split["train"], root / "scp/train.lst")
    write_list(split["val"], root / "scp/val.lst")
    write_list(split["val"], root / "scp/test.lst")
    return split


CONFIG = '''\
# config.py written by bench/train_speed.py: the hn-nsf project's config on generated data
import os
trn_set_name = 'bench_trn'
val_set_name = 'bench_val'
tmp = {data!r}
trn_list = [tmp + '/scp/train.lst']
val_list = [tmp + '/scp/val.lst']
input_dirs = [[tmp + '/5ms/melspec', tmp + '/5ms/f0']]
input_dims = [80, 1]
input_exts = ['.mfbsp', '.f0']
input_reso = [80, 80]
input_norm = [True, True]
output_dirs = [[tmp + '/wav_16k']]
output_dims = [1]
output_exts = ['.wav']
output_reso = [1]
output_norm = [False]
wav_samp_rate = 16000
truncate_seq = {truncate}
minimum_len = 80 * 50
test_set_name = ['bench_test']
test_list = [{test!r}]
test_input_dirs = [[tmp + '/5ms/melspec', tmp + '/5ms/f0']]
test_output_dirs = [[]]
'''


def write_nsf_config(project_dir: str | Path, data_root: str | Path, truncate_seq: int | None = 16000 * 3) -> Path:
    """config.py in the real hn-nsf config's shape, pointing at data made by make_nsf_data."""
    data_root = Path(data_root).resolve()
    test = read_list(data_root / "scp/test.lst")
    path = Path(project_dir) / "config.py"
    path.write_text(CONFIG.format(data=str(data_root), truncate=truncate_seq, test=test))
    return path
