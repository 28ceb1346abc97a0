"""Small arithmetic modules used by the example graphs, tests and the overhead benchmark."""
import numpy as np

from modulespack import Module, Port, module


class Add(Module):
    """y = a + b"""
    inputs = {"a": Port("float"), "b": Port("float")}
    outputs = {"y": Port("float")}

    def run(self, a, b):
        return {"y": a + b}


class Scale(Module):
    """y = x * factor"""
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def __init__(self, factor: float = 2.0):
        self.factor = factor

    def run(self, x):
        return {"y": x * self.factor}


@module(outputs={"y": Port("float")})
def Subtract(a: float, b: float = 0.0):
    """y = a - b (b defaults to 0)"""
    return a - b


class RMSE(Module):
    """Root-mean-square error between two equally long arrays."""
    inputs = {"x1": Port("float32", (None,)), "x2": Port("float32", (None,))}
    outputs = {"rmse": Port("float")}

    def run(self, x1, x2):
        if x1.shape != x2.shape:
            raise ValueError(f"x1 has shape {x1.shape} but x2 has {x2.shape}")
        return {"rmse": float(np.sqrt(np.mean((x1.astype(np.float64) - x2) ** 2)))}
