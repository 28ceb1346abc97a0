"""The melnet network, numpy only: imported by the MLServer runtime (melnet_runtime.py, in
MLServer's virtualenv) and by tests/remote/twin.py (in ours), so both compute the same thing.

A fixed 2-layer MLP over a log-mel spectrogram: [T, 80] float32 -> tanh(64) -> softmax over 25
classes per frame, [T, 25] float32. The weights come from the seed alone.
"""
import numpy as np

N_MELS, N_HIDDEN, N_OUT = 80, 64, 25


def make_weights(seed=0):
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((N_MELS, N_HIDDEN)) / np.sqrt(N_MELS)).astype(np.float32)
    b1 = (0.1 * rng.standard_normal(N_HIDDEN)).astype(np.float32)
    w2 = (rng.standard_normal((N_HIDDEN, N_OUT)) / np.sqrt(N_HIDDEN)).astype(np.float32)
    b2 = (0.1 * rng.standard_normal(N_OUT)).astype(np.float32)
    return w1, b1, w2, b2


def forward(mel, weights):
    w1, b1, w2, b2 = weights
    hidden = np.tanh(mel @ w1 + b1)
    logits = hidden @ w2 + b2
    logits = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
