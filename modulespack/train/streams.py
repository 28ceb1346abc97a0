"""Reading one stream of one utterance: raw float32 ``[frames, dim]`` or WAV (``.wav``).

Only the rows an item needs are read: a truncate_seq segment of a long raw file is one seek and
one read, not the whole file.
"""
from __future__ import annotations

import os

import numpy as np

from ..io import FormatError, read_wav
from ..io.raw import raw_length
from .project import Stream


class DataError(ValueError):
    """Unusable data for one utterance; the message names the utterance and the file."""

    def __init__(self, utterance: str, path, problem: str):
        self.utterance, self.path = utterance, os.fspath(path) if path is not None else None
        where = f" ({self.path})" if self.path else ""
        super().__init__(f"utterance {utterance}{where}: {problem}")


def stream_path(directory: str, name: str, stream: Stream) -> str:
    return os.path.join(directory, name + stream.ext)


def frames_of(path: str, stream: Stream, utterance: str, sr: int | None = None) -> int:
    """Number of frames in a stream file, from its header or size (the data is not read).

    A WAV file at another rate than ``sr`` (wav_samp_rate) is an error: its samples would not
    line up with the other streams' frames, and the model would learn from garbled timing."""
    try:
        if stream.is_wav:
            import soundfile as sf

            info = sf.info(path)
            if info.channels != stream.dim:
                raise DataError(utterance, path, f"has {info.channels} channel(s), the config says "
                                                 f"dim {stream.dim}")
            if sr and info.samplerate != sr:
                raise DataError(utterance, path, f"is sampled at {info.samplerate} Hz, wav_samp_rate "
                                                 f"in the config is {sr}: resample the data")
            return int(info.frames)
        return raw_length(path, stream.dim)
    except FormatError as e:
        raise DataError(utterance, path, f"{e.problem} (dim {stream.dim} in the config)") from None
    except RuntimeError as e:   # soundfile's error for an unreadable file
        raise DataError(utterance, path, f"not a readable WAV file ({e})") from None


def read_rows(path: str, stream: Stream, utterance: str, start: int = 0, count: int | None = None) -> np.ndarray:
    """Rows ``start .. start+count`` (all with ``count=None``) as float32 ``[n, dim]``.

    Fewer rows than asked is an error naming the file: the file changed since its length was
    cached, or a stream is shorter than the others.
    """
    try:
        if stream.is_wav:
            data = _read_wav_rows(path, start, count)
        elif count is None and start == 0:
            from ..io import read_raw

            data = read_raw(path, stream.dim)
        else:
            data = np.fromfile(path, dtype="<f4", count=count * stream.dim,
                               offset=start * stream.dim * 4)
            if data.size < count * stream.dim and os.path.getsize(path) == 4 * stream.dim:
                # An utterance-level vector (one frame): the caller repeats it over the segment.
                data = np.fromfile(path, dtype="<f4")
            if data.size % stream.dim:
                raise FormatError(path, f"size is not a whole number of rows of dim {stream.dim}")
            data = data.reshape(-1, stream.dim)
    except FormatError as e:
        raise DataError(utterance, path, f"{e.problem} (dim {stream.dim} in the config)") from None
    except FileNotFoundError:
        raise DataError(utterance, path, "file not found (removed after the length cache *.dic was "
                                         "written? delete it or use --ignore-cached-file-infor)") from None
    if data.ndim == 1:
        data = data[:, None]
    if data.shape[1] != stream.dim:
        raise DataError(utterance, path, f"has {data.shape[1]} channel(s), the config says dim {stream.dim}")
    if count is not None and len(data) < count and len(data) != 1:
        raise DataError(utterance, path, f"holds {start + len(data)} frames, {start + count} expected; "
                                         "the data changed since the length cache (*.dic) was written: "
                                         "delete it or use --ignore-cached-file-infor")
    return data


def _read_wav_rows(path: str, start: int, count: int | None) -> np.ndarray:
    if start == 0 and count is None:
        return read_wav(path)[0]
    import soundfile as sf

    try:
        data, _ = sf.read(path, start=start, frames=-1 if count is None else count,
                          dtype="float32", always_2d=True)
    except RuntimeError as e:
        raise FormatError(path, f"not a readable WAV file ({e})") from None
    return data
