"""A tiny project of the NII toolkit's shape, written into a temp folder for the training tests.

    from projects import make_tiny_project
    p = make_tiny_project(tmp_path)                  # merge-style config, frame features -> features
    p = make_tiny_project(tmp_path, style="flat", wav_output=True)

Layout (as the toolkit's projects: data beside the project folder, named from it):

    tmp_path/DATA/<corpus>/{mgc,f0,target}/<name>.{mgc,f0,mgc}    raw float32
    tmp_path/DATA/<corpus>/wav/<name>.wav                           (wav_output) 16-bit PCM
    tmp_path/DATA/scp/<corpus>_{train,val,test}.lst
    tmp_path/<project>/{config.py, model.py, main.py}

Inputs: ``.mgc`` (IN_MGC dims) and ``.f0`` (1 dim, 0 = unvoiced), both at resolution ``reso``
(samples per frame) and normalised. Output: ``.mgc`` (OUT_DIM dims, reso, normalised), a noisy
linear map of the input that a linear model can learn; or with ``wav_output`` a ``.wav`` (1 dim,
reso 1, not normalised), a sine at the frame's F0. The merge style has ``subsets`` corpora and
computes its data path from ``__file__``; the flat style has one corpus and paths relative to
the project folder, as the toolkit's configs written for running from the project folder do.

The data are synthetic on purpose: these tests check formats and bookkeeping, not audio quality.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modulespack.io import write_list, write_raw, write_wav

IN_MGC = 4
OUT_DIM = 3


@dataclass
class TinyProject:
    dir: Path                      # the project folder (config.py, model.py, main.py)
    data: Path                     # tmp_path/DATA
    style: str
    corpora: list[str]             # one per sub-corpus
    train: list[list[str]]         # names per corpus
    val: list[list[str]]
    test: list[list[str]]
    frames: dict[str, int] = field(default_factory=dict)   # name -> number of frames
    reso: int = 80
    sr: int = 16000
    wav_output: bool = False

    @property
    def in_dim(self) -> int:
        return IN_MGC + 1

    @property
    def out_dim(self) -> int:
        return 1 if self.wav_output else OUT_DIM

    def corpus_of(self, name: str) -> str:
        return name.split("_", 1)[0]

    def file(self, stream: str, name: str) -> Path:
        """The data file of one stream ('mgc', 'f0', 'target' or 'wav') of one utterance."""
        ext = {"mgc": ".mgc", "f0": ".f0", "target": ".mgc", "wav": ".wav"}[stream]
        return self.data / self.corpus_of(name) / stream / (name + ext)

    def list_file(self, corpus: str, which: str) -> Path:
        return self.data / "scp" / f"{corpus}_{which}.lst"

    @property
    def all_train(self) -> list[str]:
        return [n for names in self.train for n in names]


# ---------------------------------------------------------------------------- data


def _utterance(rng, n: int, w: np.ndarray):
    mgc = np.cumsum(rng.normal(0, 0.3, (n, IN_MGC)), axis=0).astype(np.float32)
    voiced = rng.random(n) > 0.3
    f0 = np.where(voiced, rng.uniform(100, 200, n), 0.0).astype(np.float32)[:, None]
    x = np.concatenate([mgc, f0 / 100.0], axis=1)
    target = (x @ w + rng.normal(0, 0.05, (n, OUT_DIM))).astype(np.float32)
    return mgc, f0, target


def _sine(f0: np.ndarray, reso: int, sr: int) -> np.ndarray:
    per_sample = np.repeat(f0[:, 0], reso)
    phase = 2 * np.pi * np.cumsum(per_sample) / sr
    return (0.3 * np.sin(phase) * (per_sample > 0)).astype(np.float32)


def _write_corpus(p: TinyProject, corpus: str, names: list[str], rng, frames, w) -> None:
    for stream in ("mgc", "f0", "wav" if p.wav_output else "target"):
        (p.data / corpus / stream).mkdir(parents=True, exist_ok=True)
    for name in names:
        n = int(rng.integers(frames[0], frames[1] + 1))
        p.frames[name] = n
        mgc, f0, target = _utterance(rng, n, w)
        write_raw(mgc, p.file("mgc", name))
        write_raw(f0, p.file("f0", name))
        if p.wav_output:
            write_wav(p.file("wav", name), _sine(f0, p.reso, p.sr), p.sr)
        else:
            write_raw(target, p.file("target", name))


# ---------------------------------------------------------------------------- config.py


def _py(value) -> str:
    return repr(value)


def _config_merge(p: TinyProject, with_val: bool, truncate_seq, minimum_len) -> str:
    out_stream = "wav" if p.wav_output else "target"
    n = len(p.corpora)
    return textwrap.dedent(f"""\
        # Merge style: one entry per sub-corpus; paths computed from __file__.
        import os
        tmp = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'DATA')
        corpora = {_py(p.corpora)}

        trn_set_name = {_py([c + '_trn' for c in p.corpora]) if n > 1 else _py('tiny_trn')}
        val_set_name = {_py([c + '_val' for c in p.corpora]) if n > 1 else _py('tiny_val')}
        trn_list = [tmp + '/scp/' + c + '_train.lst' for c in corpora]
        val_list = {"[tmp + '/scp/' + c + '_val.lst' for c in corpora]" if with_val else None}

        input_dirs = [[tmp + '/' + c + '/mgc', tmp + '/' + c + '/f0'] for c in corpora]
        input_dims = [{IN_MGC}, 1]
        input_exts = ['.mgc', '.f0']
        input_reso = [{p.reso}, {p.reso}]
        input_norm = [True, True]

        output_dirs = [[tmp + '/' + c + '/{out_stream}'] for c in corpora]
        output_dims = [{p.out_dim}]
        output_exts = [{_py('.wav' if p.wav_output else '.mgc')}]
        output_reso = [{1 if p.wav_output else p.reso}]
        output_norm = [{not p.wav_output}]

        wav_samp_rate = {p.sr}
        truncate_seq = {truncate_seq!r}
        minimum_len = {minimum_len!r}
        optional_argument = ['']

        test_set_name = ['tiny_test']
        test_list = [{_py([n_ for names in p.test for n_ in names])}]
        test_input_dirs = [[tmp + '/' + corpora[0] + '/mgc', tmp + '/' + corpora[0] + '/f0']]
        test_output_dirs = [[]]
        """)


def _config_flat(p: TinyProject, with_val: bool, truncate_seq, minimum_len) -> str:
    c = p.corpora[0]
    out = "wav" if p.wav_output else "target"
    return textwrap.dedent(f"""\
        # Flat style: one corpus, list files as path strings; paths relative to the project folder.
        tmp = '../DATA'
        trn_set_name = 'tiny_trn'
        val_set_name = 'tiny_val'
        trn_list = tmp + '/scp/{c}_train.lst'
        val_list = {f"tmp + '/scp/{c}_val.lst'" if with_val else None}

        input_dirs = [tmp + '/{c}/mgc', tmp + '/{c}/f0']
        input_dims = [{IN_MGC}, 1]
        input_exts = ['.mgc', '.f0']
        input_reso = [{p.reso}, {p.reso}]
        input_norm = [True, True]

        output_dirs = [tmp + '/{c}/{out}']
        output_dims = [{p.out_dim}]
        output_exts = [{_py('.wav' if p.wav_output else '.mgc')}]
        output_reso = [{1 if p.wav_output else p.reso}]
        output_norm = [{not p.wav_output}]

        wav_samp_rate = {p.sr}
        truncate_seq = {truncate_seq!r}
        minimum_len = {minimum_len!r}

        test_set_name = 'tiny_test'
        test_list = tmp + '/scp/{c}_test.lst'
        test_input_dirs = [tmp + '/{c}/mgc', tmp + '/{c}/f0']
        test_output_dirs = []
        """)


# ---------------------------------------------------------------------------- model.py

MODEL_PY = '''\
# A tiny model of the toolkit's shape: normalisation buffers as frozen Parameters (so they are in
# the state dict, as in the toolkit's projects), forward returning the normalised output.
import sys
import torch
import torch.nn as torch_nn


class Model(torch_nn.Module):
    def __init__(self, in_dim, out_dim, args, prj_conf, mean_std=None):
        super().__init__()
        in_m, in_s, out_m, out_s = self.prepare_mean_std(in_dim, out_dim, args, mean_std)
        self.input_mean = torch_nn.Parameter(in_m, requires_grad=False)
        self.input_std = torch_nn.Parameter(in_s, requires_grad=False)
        self.output_mean = torch_nn.Parameter(out_m, requires_grad=False)
        self.output_std = torch_nn.Parameter(out_s, requires_grad=False)
        self.upsample = prj_conf.input_reso[0] // prj_conf.output_reso[0]
        self.linear = torch_nn.Linear(in_dim, out_dim)

    def prepare_mean_std(self, in_dim, out_dim, args, data_mean_std=None):
        if data_mean_std is not None:
            in_m, in_s, out_m, out_s = (torch.from_numpy(a) for a in data_mean_std)
            if in_m.shape[0] != in_dim or out_m.shape[0] != out_dim:
                print("mean/std dimension incompatible")
                sys.exit(1)
            return in_m, in_s, out_m, out_s
        return torch.zeros([in_dim]), torch.ones([in_dim]), torch.zeros([out_dim]), torch.ones([out_dim])

    def normalize_input(self, x):
        return (x - self.input_mean) / self.input_std

    def normalize_target(self, y):
        return (y - self.output_mean) / self.output_std

    def denormalize_output(self, y):
        return y * self.output_std + self.output_mean

    def forward(self, x):
        y = self.linear(self.normalize_input(x))
        if self.upsample > 1:
            y = torch.tanh(y).repeat_interleave(self.upsample, dim=1)
        return y


class Loss():
    def __init__(self, args):
        self.loss = torch_nn.MSELoss()

    def compute(self, output, target):
        return self.loss(output, target)
'''

MULTI_LOSS_PY = '''

class Loss():
    # The toolkit's second form: [[losses], [flags]]; only flagged losses count for early stopping.
    def __init__(self, args):
        self.loss = torch_nn.MSELoss()

    def compute(self, output, target):
        mse = self.loss(output, target)
        l1 = torch.mean(torch.abs(output - target))
        return [[mse, 0.1 * l1], [True, False]]
'''

MAIN_PY = '''\
import sys
from modulespack.train import main
sys.exit(main())
'''


def make_tiny_project(tmp_path, *, style: str = "merge", subsets: int = 2, n_train: int = 4,
                      n_val: int = 2, n_test: int = 2, wav_output: bool = False,
                      frames: tuple[int, int] = (20, 40), reso: int = 80, sr: int = 16000,
                      with_val: bool = True, truncate_seq=None, minimum_len=None,
                      multi_loss: bool = False, project_name: str = "prj",
                      seed: int = 0) -> TinyProject:
    """Write a tiny project and its data under ``tmp_path``; see the module docstring.

    ``n_train``/``n_val`` are per corpus; the test names come from the first corpus. Frame counts
    are drawn from ``frames`` (inclusive) and recorded in ``.frames``; with ``wav_output`` the WAV
    of an utterance has exactly ``frames * reso`` samples.
    """
    if style not in ("merge", "flat"):
        raise ValueError(f"style must be 'merge' or 'flat', got {style!r}")
    if style == "flat":
        subsets = 1
    tmp_path = Path(tmp_path)
    corpora = [f"c{i}" for i in range(subsets)]
    p = TinyProject(dir=tmp_path / project_name, data=tmp_path / "DATA", style=style,
                    corpora=corpora, train=[], val=[], test=[], reso=reso, sr=sr,
                    wav_output=wav_output)
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, (IN_MGC + 1, OUT_DIM))
    (p.data / "scp").mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(corpora):
        names = {which: [f"{c}_{which}{k:03d}" for k in range(count)]
                 for which, count in (("train", n_train), ("val", n_val),
                                      ("test", n_test if i == 0 else 0))}
        for which, ns in names.items():
            _write_corpus(p, c, ns, rng, frames, w)
            if ns:
                write_list(ns, p.list_file(c, which))
        p.train.append(names["train"])
        p.val.append(names["val"] if with_val else [])
        if i == 0:
            p.test.append(names["test"])
    p.dir.mkdir(parents=True, exist_ok=True)
    make = _config_merge if style == "merge" else _config_flat
    (p.dir / "config.py").write_text(make(p, with_val, truncate_seq, minimum_len))
    (p.dir / "model.py").write_text(MODEL_PY + (MULTI_LOSS_PY if multi_loss else ""))
    (p.dir / "main.py").write_text(MAIN_PY)
    return p
