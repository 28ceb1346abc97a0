"""HTK feature files: a 12-byte big-endian header, then big-endian float32 frames.

Header: nSamples (int32), sampPeriod (int32, 100 ns units), sampSize (int16,
bytes per frame), parmKind (int16: a base kind in the low 6 bits plus qualifier
bits). parmKind is handled as unsigned so the _T bit (0x8000) tests like the rest.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

from .atomic import atomic_open
from .errors import FormatError

_HEADER = struct.Struct(">iihH")
HEADER_SIZE = _HEADER.size

BASE_KINDS = ("WAVEFORM", "LPC", "LPREFC", "LPCEPSTRA", "LPDELCEP", "IREFC", "MFCC",
              "FBANK", "MELSPEC", "USER", "DISCRETE", "PLP", "ANON")
# In the order HTK's ParmKind2Str prints them (HList shows MFCC_D_A_0).
QUALIFIERS = {"E": 0o100, "D": 0o400, "N": 0o200, "A": 0o1000, "T": 0o100000, "C": 0o2000,
              "K": 0o10000, "Z": 0o4000, "0": 0o20000, "V": 0o40000}
USER = BASE_KINDS.index("USER")
_BASE_MASK = 0o77
# These store 16-bit integers, compressed frames or a CRC, not plain float32 rows.
_INT_KINDS = {"WAVEFORM", "IREFC", "DISCRETE"}
_UNSUPPORTED_QUALIFIERS = QUALIFIERS["C"] | QUALIFIERS["K"] | QUALIFIERS["V"]


def parm_kind_name(kind: int) -> str:
    """HTK name of a parmKind code, qualifiers in HTK's own order.

    >>> parm_kind_name(0o1506), parm_kind_name(0o21506)
    ('MFCC_E_D_A', 'MFCC_E_D_A_0')
    """
    base = kind & _BASE_MASK
    name = BASE_KINDS[base] if base < len(BASE_KINDS) else f"KIND{base}"
    return name + "".join("_" + q for q, bit in QUALIFIERS.items() if kind & bit)


def parse_parm_kind(kind) -> int:
    """parmKind code from an HTK name like "MFCC_0_D_A", qualifiers in any order
    (ints pass through).

    >>> parse_parm_kind("MFCC_0_D_A") == 6 | 0o20000 | 0o400 | 0o1000
    True
    """
    if not isinstance(kind, str):
        code = int(kind)
        if not 0 <= code <= 0xFFFF:
            raise ValueError(f"parmKind must fit 16 bits, got {kind!r}")
        return code
    base, *quals = kind.upper().split("_")
    if base not in BASE_KINDS:
        raise ValueError(f"unknown HTK base kind {base!r} in {kind!r}")
    code = BASE_KINDS.index(base)
    for q in quals:
        if q not in QUALIFIERS:
            raise ValueError(f"unknown HTK qualifier _{q} in {kind!r}")
        code |= QUALIFIERS[q]
    return code


@dataclass(frozen=True)
class HTKHeader:
    """The four header fields; ``samp_period`` is in 100 ns units (100000 = 10 ms)."""

    n_samples: int
    samp_period: int
    samp_size: int
    parm_kind: int

    @property
    def dim(self) -> int:
        return self.samp_size // 4

    @property
    def frame_period(self) -> float:
        """Seconds between frames."""
        return self.samp_period * 1e-7

    @property
    def kind_name(self) -> str:
        return parm_kind_name(self.parm_kind)


def _unsupported(kind: int):
    base = kind & _BASE_MASK
    if base < len(BASE_KINDS) and BASE_KINDS[base] in _INT_KINDS:
        return "16-bit integer data"
    if kind & _UNSUPPORTED_QUALIFIERS:
        return "compressed, CRC or VQ data"
    return None


def read_htk(path) -> tuple[np.ndarray, HTKHeader]:
    """Read an HTK float feature file as ``([n_samples, dim] float32, header)``.

    The file size must equal 12 + nSamples * sampSize; otherwise, or for kinds
    that are not plain float32 (WAVEFORM, compressed _C, CRC _K), it raises
    :class:`FormatError` naming the file.

    >>> feats, hdr = read_htk("utt001.mfc")             # doctest: +SKIP
    >>> hdr.kind_name, hdr.frame_period                 # doctest: +SKIP
    ('MFCC_D_A_0', 0.01)
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        raw = f.read(HEADER_SIZE)
        if len(raw) < HEADER_SIZE:
            raise FormatError(path, f"too short for an HTK header ({size} of {HEADER_SIZE} bytes)")
        hdr = HTKHeader(*_HEADER.unpack(raw))
        problem = _unsupported(hdr.parm_kind)
        if problem:
            raise FormatError(path, f"parmKind {hdr.kind_name} holds {problem}, which is not supported")
        if hdr.n_samples < 0 or hdr.samp_size <= 0 or hdr.samp_size % 4:
            raise FormatError(path, f"bad HTK header: nSamples={hdr.n_samples}, sampSize={hdr.samp_size} "
                                    "(need nSamples >= 0 and sampSize a positive multiple of 4)")
        expected = HEADER_SIZE + hdr.n_samples * hdr.samp_size
        if size != expected:
            raise FormatError(path, f"size {size} bytes does not match the header: 12 + nSamples "
                                    f"{hdr.n_samples} * sampSize {hdr.samp_size} = {expected}")
        data = np.fromfile(f, dtype=">f4", count=hdr.n_samples * hdr.dim)
    if data.size != hdr.n_samples * hdr.dim:
        raise FormatError(path, "file shrank while being read")
    return data.astype(np.float32).reshape(hdr.n_samples, hdr.dim), hdr


def write_htk(path, data, samp_period: int = 100000, parm_kind=USER) -> HTKHeader:
    """Write ``[frames, dim]`` (or 1-D, dim 1) float data as an HTK file, atomically.

    ``samp_period`` is in 100 ns units (100000 = 10 ms); ``parm_kind`` an int or
    a name such as "MFCC_E_D_A". Returns the header written.

    >>> write_htk("utt001.mfc", mfcc, 100000, "MFCC_0")   # doctest: +SKIP
    """
    a = np.asarray(data)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise ValueError(f"expected real [frames, dim] data, got {a.dtype} of shape {np.shape(data)}")
    kind = parse_parm_kind(parm_kind)
    problem = _unsupported(kind)
    if problem:
        raise ValueError(f"parmKind {parm_kind_name(kind)} holds {problem}, which is not supported")
    n, dim = a.shape
    if not 0 < dim * 4 <= 0x7FFF:
        raise ValueError(f"dim {dim} does not fit sampSize (int16 bytes per frame)")
    if n >= 2**31 or not 0 < int(samp_period) < 2**31:
        raise ValueError(f"nSamples {n} or sampPeriod {samp_period} does not fit int32")
    hdr = HTKHeader(n, int(samp_period), dim * 4, kind)
    body = np.ascontiguousarray(a, dtype=">f4")
    with atomic_open(path, "wb") as f:
        f.write(_HEADER.pack(hdr.n_samples, hdr.samp_period, hdr.samp_size, hdr.parm_kind))
        body.tofile(f)
    return hdr
