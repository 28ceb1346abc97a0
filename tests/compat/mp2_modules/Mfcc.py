"""Stand-in for the Django app's `Mfcc` module (the ASR front end).

The original computed ``librosa.feature.mfcc(wav, sr=16000, n_mfcc=26)``. This one computes
real MFCCs with numpy: 16 kHz mono, 25 ms Hann frames every 10 ms (512-point FFT), power
spectrum, 40 triangular mel filters, log (dB, 80 dB range), orthonormal DCT-II, 26 coefficients.
Outputs as the original: `mfcc` float32 of shape (1, frames, 26) and `seq_len` int32 [[frames]].
"""
import numpy as np

import _mp2_dsp as dsp
from modulespack.compat import InputDesc, Module, ModuleDesc, OutputDesc

N_FFT, HOP, N_MELS, N_MFCC = 512, 160, 40, 26
MEL = dsp.mel_filters(dsp.SR, N_FFT, N_MELS)
DCT = dsp.dct_matrix(N_MFCC, N_MELS)


def compute_mfcc(wav):
    """MFCC matrix, shape (frames, 26)."""
    power = np.abs(dsp.stft(wav, N_FFT, HOP)) ** 2          # (1 + N_FFT // 2, frames)
    log_mel = 10.0 * np.log10(np.maximum(MEL @ power, 1e-10))
    log_mel = np.maximum(log_mel, log_mel.max() - 80.0)
    return (DCT @ log_mel).T


class Mfcc(Module):

    @staticmethod
    def make_module_description():
        inputdesc = {'wav_file': InputDesc(datatype='string', datashape=(None,))}
        outputdesc = {'mfcc': OutputDesc(datatype='np.float32', datashape=(None, None, 26)),
                      'seq_len': OutputDesc(datatype='np.int32', datashape=(None, 1))}
        return ModuleDesc(inputdesc, outputdesc)

    @staticmethod
    def run(inputs):
        mfcc = compute_mfcc(dsp.read_wav(inputs['wav_file']))
        return {'mfcc': mfcc[None].astype(np.float32),
                'seq_len': np.asarray(len(mfcc), np.int32).reshape(1, 1)}
