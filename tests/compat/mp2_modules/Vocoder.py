"""Stand-in for the Django app's `Vocoder` module.

Does what the original did, with numpy instead of librosa/soundfile: undo the [0, 1]
normalisation to dB ([-50, 40]), dB to amplitude, raise to the power 1.6 to emphasise peaks,
Griffin-Lim (n_fft 1136, hop 96; 32 iterations where the original ran 60, to keep tests quick;
seeded so that runs repeat), inverse
pre-emphasis, and return a 16 kHz 16-bit mono WAV file's bytes. Unlike the original it scales
the waveform to a peak of 0.9 before writing (the original let soundfile clip it).
"""
import numpy as np

import _mp2_dsp as dsp
from modulespack.compat import InputDesc, Module, ModuleDesc, OutputDesc

N_FFT, HOP, ITERS = 1136, 96, 32


def denormalize_db(norm_db, max_db, min_db):
    return np.clip(norm_db, 0, 1) * (max_db - min_db) + min_db


class Vocoder(Module):

    @staticmethod
    def make_module_description():
        inputdesc = {'pred_spec': InputDesc(datatype='np.float32', datashape=(1, 334, 569))}
        outputdesc = {'audio_stream': OutputDesc(datatype='string', datashape=(None,))}
        return ModuleDesc(inputdesc, outputdesc)

    @staticmethod
    def run(inputs):
        pred_spec = np.asarray(inputs['pred_spec'], np.float64)
        mag = np.power(dsp.db_to_amp(denormalize_db(pred_spec, 40, -50)), 1.6)
        audio = np.concatenate([dsp.griffin_lim(m.T, N_FFT, HOP, ITERS) for m in mag])
        audio = dsp.inv_preemphasis(audio, 0.97)
        peak = np.abs(audio).max()
        if peak > 0:
            audio = audio * (0.9 / peak)
        return {'audio_stream': dsp.wav_bytes(audio)}
