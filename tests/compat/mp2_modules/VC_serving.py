"""Stand-in for the Django app's `VC_serving` module: a voice conversion model we do not have.

The original sent (mfcc, spec, mel) to a TensorFlow Serving model and got back the predicted
target-speaker spectrogram and phonetic posteriorgrams (PPGs). This stand-in converts by a fixed
frequency warp: every frequency of the source spectrogram moves up by the factor ALPHA (1.25),
as a crude formant/pitch shift, so a 440 Hz tone comes out at 550 Hz. Its "PPGs" are a softmax
over 61 classes of a fixed (seeded) projection of the MFCCs: shaped and normalised like the
real ones (each frame sums to 1) but meaningless. Shapes as the original: pred_spec
(1, 334, 569), ppgs (1, 334, 61).
"""
import numpy as np

from modulespack.compat import InputDesc, Module, ModuleDesc, OutputDesc

ALPHA = 1.25
N_PHONES = 61
PROJ = np.random.default_rng(0).standard_normal((60, N_PHONES)) / np.sqrt(60)


def warp(spec, alpha):
    """spec[t, k] -> out[t, alpha * k] (linear interpolation along frequency)."""
    bins = np.arange(spec.shape[1], dtype=np.float64)
    return np.stack([np.interp(bins / alpha, bins, row, right=0.0) for row in spec])


class VC_serving(Module):

    @staticmethod
    def make_module_description():
        inputdesc = {'mfcc': InputDesc(datatype='np.float32', datashape=(334, 60)),
                     'spec': InputDesc(datatype='np.float32', datashape=(334, 569)),
                     'mel': InputDesc(datatype='np.float32', datashape=(334, 90))}
        outputdesc = {'ppgs': OutputDesc(datatype='np.float32', datashape=(1, 334, 61)),
                      'pred_spec': OutputDesc(datatype='np.float32', datashape=(1, 334, 569))}
        return ModuleDesc(inputdesc, outputdesc)

    @staticmethod
    def run(inputs):
        mfcc, spec, mel = (np.asarray(inputs[k], np.float64) for k in ('mfcc', 'spec', 'mel'))
        for name, x, shape in (('mfcc', mfcc, (334, 60)), ('spec', spec, (334, 569)), ('mel', mel, (334, 90))):
            if x.shape != shape:
                raise ValueError(f'{name} must have shape {shape}, got {x.shape}')
        logits = (10.0 * mfcc / (np.abs(mfcc).max() or 1.0)) @ PROJ
        logits -= logits.max(axis=1, keepdims=True)
        ppgs = np.exp(logits)
        ppgs /= ppgs.sum(axis=1, keepdims=True)
        return {'pred_spec': warp(spec, ALPHA)[None].astype(np.float32),
                'ppgs': ppgs[None].astype(np.float32)}
