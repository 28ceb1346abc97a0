"""Data conventions of the speech toolkit: WAV, raw float32 matrices, HTK files,
mean/std statistics and file lists. Every write is atomic (temp file + rename).

`modulespack.io.audio_ports` is the audio-port convention that the command line and the server
share: which graph ports are audio, which input carries an audio input's rate, where an audio
output's rate comes from, the WAV formats and output file names.

>>> from modulespack.io import read_wav, read_raw, write_raw
"""
from .atomic import atomic_open, atomic_path
from .errors import FormatError
from .htk import HTKHeader, parm_kind_name, parse_parm_kind, read_htk, write_htk
from .lists import read_list, scan_dir, write_list
from .raw import append_raw, raw_length, read_raw, write_raw
from .stats import MeanStd, denormalise, normalise
from .wav import read_wav, read_wav_bytes, wav_to_bytes, write_wav

__all__ = [
    "FormatError", "atomic_open", "atomic_path",
    "read_wav", "write_wav", "read_wav_bytes", "wav_to_bytes",
    "read_raw", "write_raw", "append_raw", "raw_length",
    "HTKHeader", "read_htk", "write_htk", "parm_kind_name", "parse_parm_kind",
    "MeanStd", "normalise", "denormalise",
    "read_list", "write_list", "scan_dir",
]
