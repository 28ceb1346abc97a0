"""Per-dimension mean and standard deviation over many files, in one pass.

Each batch is reduced with numpy in float64 and folded into the running totals
with Chan et al.'s pairwise update, which stays accurate where the textbook
sum / sum-of-squares formula cancels catastrophically (large mean, small spread).
"""
from __future__ import annotations

import numpy as np

from .errors import FormatError
from .raw import DEFAULT_DTYPE, read_raw, write_raw

DEFAULT_FLOOR = 1e-8


class MeanStd:
    """Running mean/std per dimension of ``[frames, dim]`` data (1-D is dim 1).

    ``voiced_only=True`` counts only values > 0, per dimension: for F0 streams
    where 0 marks an unvoiced frame. The std is the population one (ddof=0),
    as ``numpy.std``.

    >>> acc = MeanStd()
    >>> acc.update(np.array([[1.0, 10.0], [3.0, 30.0]]))
    >>> acc.mean, acc.std
    (array([ 2., 20.]), array([ 1., 10.]))
    >>> f0 = MeanStd(voiced_only=True)
    >>> f0.update(np.array([0.0, 100.0, 0.0, 200.0]))
    >>> f0.mean, f0.count
    (array([150.]), array([2]))
    """

    def __init__(self, dim: int | None = None, voiced_only: bool = False):
        self.voiced_only = voiced_only
        self.dim = None
        if dim is not None:
            self._init(int(dim))

    def _init(self, dim: int) -> None:
        self.dim = dim
        self._n = np.zeros(dim, np.int64)
        self._mean = np.zeros(dim)
        self._m2 = np.zeros(dim)

    def _rows(self, x) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(f"expected [frames, dim] or [frames], got shape {np.shape(x)}")
        if self.dim is None:
            self._init(a.shape[1])
        elif a.shape[1] != self.dim:
            raise ValueError(f"dim {a.shape[1]} does not match the accumulator's dim {self.dim}")
        return a

    def _fold(self, n_b, mean_b, m2_b) -> None:
        n = self._n + n_b
        share = np.divide(n_b, n, out=np.zeros(self.dim), where=n > 0)
        delta = mean_b - self._mean
        self._mean = self._mean + delta * share
        self._m2 = self._m2 + m2_b + delta**2 * self._n * share
        self._n = n

    def update(self, x) -> None:
        """Add a batch of frames (one utterance, say)."""
        a = self._rows(x)
        if self.voiced_only:
            keep = a > 0
            if np.isinf(a[keep]).any():
                raise ValueError("data contain infinity")
            n_b = keep.sum(axis=0)
            mean_b = np.divide(np.where(keep, a, 0.0).sum(axis=0), n_b,
                               out=np.zeros(self.dim), where=n_b > 0)
            m2_b = (np.where(keep, a - mean_b, 0.0) ** 2).sum(axis=0)
        else:
            if not np.isfinite(a).all():
                raise ValueError("data contain NaN or infinity")
            n_b = np.full(self.dim, len(a), np.int64)
            mean_b = a.mean(axis=0) if len(a) else np.zeros(self.dim)
            m2_b = ((a - mean_b) ** 2).sum(axis=0)
        self._fold(n_b, mean_b, m2_b)

    def merge(self, other: "MeanStd") -> "MeanStd":
        """Fold another accumulator (e.g. from a worker process) into this one."""
        if other.voiced_only != self.voiced_only:
            raise ValueError("cannot merge voiced-only statistics with all-frame statistics")
        if other.dim is None:
            return self
        if self.dim is None:
            self._init(other.dim)
        elif other.dim != self.dim:
            raise ValueError(f"cannot merge dim {other.dim} into dim {self.dim}")
        self._fold(other._n, other._mean, other._m2)
        return self

    @property
    def count(self) -> np.ndarray:
        """Frames counted, per dimension."""
        return np.zeros(0, np.int64) if self.dim is None else self._n.copy()

    def _need_data(self) -> None:
        if self.dim is None or not self._n.all():
            empty = [] if self.dim is None else np.flatnonzero(self._n == 0).tolist()
            raise ValueError(f"no frames counted (in dimensions {empty})" if empty else "no data added")

    @property
    def mean(self) -> np.ndarray:
        self._need_data()
        return self._mean.copy()

    @property
    def std(self) -> np.ndarray:
        self._need_data()
        return np.sqrt(self._m2 / self._n)

    def save(self, path) -> None:
        """Write float32 means then stds (one raw file of 2 * dim values)."""
        write_raw(np.stack([self.mean, self.std]), path)

    @staticmethod
    def load(path, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Read ``(mean, std)`` as written by :meth:`save`."""
        m = read_raw(path, dim)
        if m.shape[0] != 2:
            raise FormatError(path, f"holds {m.shape[0]} rows of dim {dim}, a mean/std file holds 2")
        return m[0].copy(), m[1].copy()

    @classmethod
    def from_files(cls, paths, dim: int, voiced_only: bool = False, dtype=DEFAULT_DTYPE) -> "MeanStd":
        """Accumulate over raw feature files, reading each once.

        >>> acc = MeanStd.from_files(["a.lf0", "b.lf0"], dim=1, voiced_only=True)  # doctest: +SKIP
        """
        acc = cls(dim, voiced_only)
        for p in paths:
            acc.update(read_raw(p, dim, dtype))
        return acc


def _result(x, y):
    # Keep float32 features float32 even though the statistics are float64.
    kind = np.result_type(np.asarray(x).dtype, np.float32)
    return y.astype(kind, copy=False)


def normalise(x, mean, std, floor: float = DEFAULT_FLOOR):
    """``(x - mean) / max(std, floor)``; the floor guards constant dimensions.

    >>> normalise(np.array([[2.0, 5.0]]), np.array([1.0, 5.0]), np.array([0.5, 0.0]))
    array([[2., 0.]])
    """
    return _result(x, (np.asarray(x) - mean) / np.maximum(std, floor))


def denormalise(y, mean, std, floor: float = DEFAULT_FLOOR):
    """Inverse of :func:`normalise` (with the same floor).

    >>> denormalise(np.array([[2.0, 0.0]]), np.array([1.0, 5.0]), np.array([0.5, 0.0]))
    array([[2., 5.]])
    """
    return _result(y, np.asarray(y) * np.maximum(std, floor) + mean)
