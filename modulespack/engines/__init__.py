"""Engines: where a graph runs (threads in this process, local worker processes, Ray). See base.py.

    from modulespack.engines import make_engine
    with make_engine("local", "examples/graphs/asr.yaml", workers=2) as engine:
        text = engine.run({"wav": wav, "sr": 16000})["text"]
"""
from .base import Engine, EngineError, Run, WorkerDied
from .factory import KINDS, engine_class, make_engine

__all__ = ["Engine", "EngineError", "KINDS", "Run", "WorkerDied", "engine_class", "make_engine"]


def __getattr__(name: str):  # the batch runner imports io (soundfile): only when asked for
    if name == "run_batch":
        from .batch import run_batch
        return run_batch
    raise AttributeError(f"module 'modulespack.engines' has no attribute {name!r}")
