"""Raw feature matrices: no header, row-major ``[frames, dim]``, float32 little endian.

The dimension is not stored; it comes from configuration, so every read checks
that the file size is a whole number of rows.
"""
from __future__ import annotations

import os

import numpy as np

from .atomic import atomic_open
from .errors import FormatError

DEFAULT_DTYPE = "<f4"


def _dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.hasobject or dt.itemsize == 0:
        raise ValueError(f"dtype {dt} cannot be stored in a raw file")
    return dt


def _check_dim(dim) -> int:
    d = int(dim)
    if d != dim or d < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    return d


def _frames(path, size: int, dim: int, dt: np.dtype) -> int:
    row = dim * dt.itemsize
    if size % row:
        raise FormatError(
            path,
            f"size {size} bytes is not a multiple of dim*itemsize = {dim}*{dt.itemsize} = {row} "
            f"({size // row} whole rows and {size % row} bytes left over)",
        )
    return size // row


def _as_rows(array, dt: np.dtype) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim not in (1, 2):
        raise ValueError(f"expected a 1-D or 2-D [frames, dim] array, got shape {a.shape}")
    # same_kind refuses silent float->int truncation but allows float64->float32.
    return np.ascontiguousarray(a.astype(dt, casting="same_kind", copy=False))


def _write_array(f, a: np.ndarray) -> None:
    # A seam for tests that simulate a failure halfway through the data.
    a.tofile(f)


def read_raw(path, dim: int = 1, dtype=DEFAULT_DTYPE, squeeze: bool = False) -> np.ndarray:
    """Read a raw matrix as ``[frames, dim]`` in native byte order.

    With ``dim=1`` the result is still 2-D ``[frames, 1]`` so that code written
    for any dimension works unchanged; ``squeeze=True`` returns 1-D ``[frames]``
    instead (only when ``dim == 1``; a single frame is never squeezed away).
    A size that is not a whole number of rows raises :class:`FormatError`.

    >>> mgc = read_raw("utt001.mgc", dim=60)           # doctest: +SKIP
    >>> lf0 = read_raw("utt001.lf0", squeeze=True)     # doctest: +SKIP
    """
    dim, dt = _check_dim(dim), _dtype(dtype)
    with open(path, "rb") as f:
        n = _frames(path, os.fstat(f.fileno()).st_size, dim, dt)
        data = np.fromfile(f, dtype=dt, count=n * dim)
    if data.size != n * dim:
        raise FormatError(path, f"file shrank while being read ({data.size} of {n * dim} values)")
    if not dt.isnative:
        data = data.astype(dt.newbyteorder("="))
    return data.reshape(n) if squeeze and dim == 1 else data.reshape(n, dim)


def raw_length(path, dim: int = 1, dtype=DEFAULT_DTYPE) -> int:
    """Number of frames in a raw file, from its size alone (the data is not read).

    >>> raw_length("utt001.mgc", dim=60)               # doctest: +SKIP
    412
    """
    dim, dt = _check_dim(dim), _dtype(dtype)
    return _frames(path, os.path.getsize(path), dim, dt)


def write_raw(array, path, dtype=DEFAULT_DTYPE) -> None:
    """Write a 1-D or ``[frames, dim]`` array atomically (temp file + rename).

    The array is converted to ``dtype`` (float64 -> float32 is fine; float ->
    integer is refused as it would truncate silently).

    >>> write_raw(np.zeros((100, 60)), "utt001.mgc")   # doctest: +SKIP
    """
    a = _as_rows(array, _dtype(dtype))
    with atomic_open(path, "wb") as f:
        _write_array(f, a)


def append_raw(array, path, dtype=DEFAULT_DTYPE) -> None:
    """Append rows to a raw file, creating it if needed.

    Not atomic in the rename sense (that would copy the whole file per append):
    instead, if the write fails the file is cut back to its previous length.
    The existing size must be a whole number of rows of the new array's width.
    Not safe for several writers appending to one file at once.

    >>> for chunk in chunks:                            # doctest: +SKIP
    ...     append_raw(chunk, "stream.raw")
    """
    dt = _dtype(dtype)
    a = _as_rows(array, dt)
    dim = a.shape[1] if a.ndim == 2 else 1
    # Unbuffered, so that nothing is left in a Python buffer to reach the file
    # after the truncate below.
    with open(path, "ab", buffering=0) as f:
        start = os.fstat(f.fileno()).st_size
        _frames(path, start, max(dim, 1), dt)
        try:
            _write_array(f, a)
        except BaseException:
            f.truncate(start)
            raise
