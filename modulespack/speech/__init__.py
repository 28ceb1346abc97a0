"""The module library for speech: DSP, WORLD, Griffin-Lim, TTS, ASR, voice conversion, metrics.

Modules are found by short name through the `modulespack.modules` entry points (see pyproject.toml),
so importing this package loads nothing heavy.
"""
