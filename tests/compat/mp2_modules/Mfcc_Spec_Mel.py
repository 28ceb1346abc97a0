"""Stand-in for the Django app's `Mfcc_Spec_Mel` module (the voice conversion front end).

Does what the original did with librosa, with numpy: load at 16 kHz, trim silence (60 dB below
the loudest 1136-sample frame), pad or cut to 2 s, pre-emphasis 0.97, STFT (n_fft 1136, hop 96:
334 frames of 569 bins), 90 mel bands, dB, 60 MFCCs (DCT of the mel dB), and the spectrogram and
mel dB normalised from [-50, 40] dB to [0, 1]. Outputs float32: mfcc (334, 60), spec (334, 569),
mel (334, 90).
"""
import numpy as np

import _mp2_dsp as dsp
from modulespack.compat import InputDesc, Module, ModuleDesc, OutputDesc

N_FFT, HOP, N_MELS, N_MFCC, LENGTH = 1136, 96, 90, 60, 2 * dsp.SR
MEL = dsp.mel_filters(dsp.SR, N_FFT, N_MELS)
DCT = dsp.dct_matrix(N_MFCC, N_MELS)


def normalize_0_1(values, max_db, min_db):
    return np.clip((values - min_db) / (max_db - min_db), 0, 1)


class Mfcc_Spec_Mel(Module):

    @staticmethod
    def make_module_description():
        inputdesc = {'wav_file': InputDesc(datatype='string', datashape=(None,))}
        outputdesc = {'mfcc': OutputDesc(datatype='np.float32', datashape=(334, 60)),
                      'spec': OutputDesc(datatype='np.float32', datashape=(334, 569)),
                      'mel': OutputDesc(datatype='np.float32', datashape=(334, 90))}
        return ModuleDesc(inputdesc, outputdesc)

    @staticmethod
    def run(inputs):
        wav = dsp.read_wav(inputs['wav_file'])
        wav = dsp.trim(wav, N_FFT, HOP)
        wav = dsp.fix_length(wav, LENGTH)
        mag = np.abs(dsp.stft(dsp.preemphasis(wav, 0.97), N_FFT, HOP))   # (569, 334)
        mel = MEL @ mag
        mag_db = dsp.amp_to_db(mag)
        mel_db = dsp.amp_to_db(mel)
        mfccs = DCT @ mel_db
        return {'mfcc': mfccs.T.astype(np.float32),
                'spec': normalize_0_1(mag_db, 40, -50).T.astype(np.float32),
                'mel': normalize_0_1(mel_db, 40, -50).T.astype(np.float32)}
