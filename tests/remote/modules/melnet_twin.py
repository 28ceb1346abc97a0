"""Modules for the remote tests' graphs (a `module_paths` folder).

MelNetTwin is the in-process twin of MLServer's `melnet`: the same network (runtime/melnet/
melnet_net.py, shared with the MLServer runtime), so a graph whose middle node is remote can be
compared with the same graph run locally.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from modulespack import Module, Port

_NET_FILE = Path(__file__).resolve().parents[1] / "runtime" / "melnet" / "melnet_net.py"
_spec = importlib.util.spec_from_file_location("_melnet_net", _NET_FILE)
net = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(net)


class MelNetTwin(Module):
    """mel [T, 80] -> ppg [T, 25], computed here with the weights MLServer's `melnet` uses."""
    inputs = {"mel": Port("float32", (None, net.N_MELS))}
    outputs = {"ppg": Port("float32", (None, net.N_OUT))}

    def __init__(self, seed: int = 0):
        self.weights = net.make_weights(seed)

    def run(self, mel):
        return {"ppg": net.forward(np.asarray(mel, dtype=np.float32), self.weights)}


class FrameClasses(Module):
    """The most likely class of each frame: ppg [T, C] -> classes [T] int64."""
    inputs = {"ppg": Port("float32", (None, None))}
    outputs = {"classes": Port("int64", (None,))}

    def run(self, ppg):
        return {"classes": np.argmax(ppg, axis=-1).astype(np.int64)}
