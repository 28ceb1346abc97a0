"""Stand-in for the Django app's `AM_serving` module: an acoustic model we do not have.

The original sent the MFCCs to a TensorFlow Serving acoustic model and mapped the predicted
labels to pinyin. This stand-in finds syllables in a simple, checkable way: the energy
coefficient c0 is smoothed with a 7-frame running median (which removes clicks at onsets), and a
frame is voiced when it is above the midpoint between the quietest and the loudest smoothed
frame; each run of at least 3 voiced frames (30 ms; gaps under 3 frames are bridged)
is one syllable. The k-th syllable is labelled ``VOCAB[k % len(VOCAB)]`` - so two tone bursts
come out as ['ni3', 'hao3'] - since without a model the label carries no meaning.
Only the first `len` frames are used, as the model did.
"""
import numpy as np

from modulespack.compat import InputDesc, Module, ModuleDesc, OutputDesc

VOCAB = ['ni3', 'hao3', 'shi4', 'jie4', 'ma5']
MIN_FRAMES = 3
SMOOTH = 7


def syllables(c0):
    """(start, end) frame ranges of the voiced runs of an energy track."""
    if len(c0) == 0:
        return []
    padded = np.pad(np.asarray(c0, np.float64), SMOOTH // 2, mode='edge')
    level = np.median(np.lib.stride_tricks.sliding_window_view(padded, SMOOTH), axis=1)
    quiet, loud = level.min(), level.max()
    if loud - quiet < 1e-6:
        return []  # no contrast: all silence, or one sound with no pause to tell syllables apart
    voiced = level > (quiet + loud) / 2
    idx = np.nonzero(voiced)[0]
    runs = []
    for i in idx:
        if runs and i - runs[-1][1] <= MIN_FRAMES:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return [(a, b) for a, b in runs if b - a >= MIN_FRAMES]


class AM_serving(Module):

    @staticmethod
    def make_module_description():
        inputdesc = {'mfcc': InputDesc(datatype='np.float32', datashape=(None, None, 26)),
                     'len': InputDesc(datatype='np.int32', datashape=(None, 1))}
        outputdesc = {'PinYin': OutputDesc(datatype='list', datashape=(None,))}
        return ModuleDesc(inputdesc, outputdesc)

    @staticmethod
    def run(inputs):
        mfcc = np.asarray(inputs['mfcc'])
        n = int(np.asarray(inputs['len']).reshape(-1)[0])
        if mfcc.ndim != 3 or mfcc.shape[2] != 26:
            raise ValueError(f'mfcc must have shape (1, frames, 26), got {mfcc.shape}')
        c0 = mfcc[0, :n, 0]
        return {'PinYin': [VOCAB[k % len(VOCAB)] for k in range(len(syllables(c0)))]}
