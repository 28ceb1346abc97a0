"""Shared test helpers (a plain module: conftest.py cannot be imported by name
safely once other test folders have their own)."""


class Unconvertible:
    """An array-like whose conversion fails, to interrupt a write."""

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("conversion failed")

    def __len__(self):
        return 3
