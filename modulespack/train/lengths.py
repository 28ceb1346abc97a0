"""Utterance lengths, truncate_seq segments and the per-set length cache, as the toolkit does them.

Lengths are counted in samples of the fastest stream: a stream of ``n`` frames at resolution
``reso`` (samples per frame) is ``n * reso`` long. Streams of one utterance must agree within 10 %
(checked once the longer is over 40, the toolkit's ``data_seq_min_length``); the shortest wins
and the result is floored to a multiple of the largest resolution, so that every stream's slice
is a whole number of frames. One-frame files (utterance-level vectors) do not count.

The cache is the toolkit's ``<set>_utt_length.dic``: JSON (never pickle), a list of
``{"length", "seq_name", "seg_idx", "start_pos", "info_id"}``, one per segment kept, so a project
folder moves between the toolkit and this harness either way. Reading it, an utterance's length is
the end of its last cached segment; utterances the cache does not hold are measured again.
"""
from __future__ import annotations

import json
import os

from ..io import atomic_open

CACHE_SUFFIX = "_utt_length.dic"
# The toolkit's conf.data_seq_min_length: shorter streams are not compared.
COMPARE_FROM = 40
TOLERANCE = 0.1


class SeqInfo:
    """The toolkit's per-item record (its `seq_info.SeqInfo`): what input_trans_fns may receive."""

    __slots__ = ("info_id", "length", "seg_idx", "seq_name", "start_pos")

    def __init__(self, length=0, seq_name="", seg_idx=0, start_pos=0, info_id=0):
        self.length, self.seq_name, self.seg_idx = int(length), seq_name, int(seg_idx)
        self.start_pos, self.info_id = int(start_pos), int(info_id)

    def seq_length(self) -> int:
        return self.length

    def seq_tag(self) -> str:
        return self.seq_name

    def seq_start_pos(self) -> int:
        return self.start_pos

    def print_to_str(self) -> str:
        return f"{self.info_id},{self.seq_name},{self.seg_idx},{self.length},{self.start_pos}"

    def print_to_dic(self) -> dict:
        return {"length": self.length, "seq_name": self.seq_name, "seg_idx": self.seg_idx,
                "start_pos": self.start_pos, "info_id": self.info_id}


def floor_to(length: int, reso: int) -> int:
    return length // reso * reso


def combine(name: str, measured: list[tuple[str, int, int]], reso_max: int) -> int | None:
    """One utterance's length from ``(path, frames, reso)`` per stream, or None (no stream counts).

    Raises ValueError naming both files when two streams are more than 10 % apart.
    """
    length = first = None
    for path, frames, reso in measured:
        if frames <= 1:
            continue
        n = frames * reso
        if length is None:
            length, first = n, (path, frames, reso)
        elif max(length, n) > COMPARE_FROM and abs(length - n) / length > TOLERANCE:
            p0, f0, r0 = first
            raise ValueError(f"streams disagree in length by more than {TOLERANCE:.0%}: {p0} has "
                             f"{f0} frames x reso {r0} = {f0 * r0} samples, {path} has {frames} "
                             f"frames x reso {reso} = {n} samples")
        else:
            length = min(length, n)
    return None if length is None else floor_to(length, reso_max)


def segments(length: int, truncate: int | None, minimum: int | None) -> list[tuple[int, int, int]]:
    """``(seg_idx, start, length)`` of the items cut from one utterance (the toolkit's rules).

    Without truncation the utterance is one item; with it, pieces of ``truncate``. Pieces (or the
    utterance) shorter than ``minimum`` are dropped; segment numbers count the kept pieces.
    """
    if truncate is None:
        return [] if minimum is not None and length < minimum else [(0, 0, length)]
    out, start, seg = [], 0, 0
    while start < length:
        n = min(truncate, length - start)
        if minimum is None or n >= minimum:
            out.append((seg, start, n))
            seg += 1
        start += n
    return out


def cache_path(cache_dir, set_name: str) -> str:
    return os.path.join(os.fspath(cache_dir), set_name + CACHE_SUFFIX)


def read_cache(path: str, log=print, truncate: int | None = None) -> dict[str, int] | None:
    """Utterance name -> length from a length cache, or None when absent, unreadable, or cut
    with another ``truncate`` (its utterances may have lost a last piece shorter than
    minimum_len then, which the lengths it holds cannot tell)."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
        pieces: dict[str, list[tuple[int, int]]] = {}
        for e in entries:
            name, start, n = e["seq_name"], e["start_pos"], e["length"]
            if not isinstance(name, str) or not all(isinstance(v, int) and v >= 0 for v in (start, n)):
                raise ValueError(f"bad entry {e!r}")
            pieces.setdefault(name, []).append((start, n))
    except (OSError, ValueError, TypeError, KeyError) as e:
        log(f"length cache {path} is unreadable ({e}); measuring the data again")
        return None
    if not all(_cut_by(sorted(p), truncate) for p in pieces.values()):
        log(f"length cache {path} was cut with another truncate_seq; measuring the data again")
        return None
    return {name: max(s + n for s, n in p) for name, p in pieces.items()}


def _cut_by(pieces: list[tuple[int, int]], truncate: int | None) -> bool:
    """Whether an utterance's cached pieces are what `segments` makes with ``truncate``."""
    if truncate is None:
        return len(pieces) == 1 and pieces[0][0] == 0
    return all(start == k * truncate and (n == truncate or k == len(pieces) - 1 and n < truncate)
               for k, (start, n) in enumerate(pieces))


def write_cache(path: str, infos: list[SeqInfo]) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump([i.print_to_dic() for i in infos], f)


def same_cache(path: str, infos: list[SeqInfo]) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f) == [i.print_to_dic() for i in infos]
    except (OSError, ValueError):
        return False
