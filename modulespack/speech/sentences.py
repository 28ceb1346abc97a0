"""Reproducible English sentences for test corpora, from a small word list and grammar.

Written here (no text copied from elsewhere) and seeded, so every machine makes the same corpus.
Words are common ones that flite pronounces well and pocketsphinx's dictionary knows.

>>> make_sentences(2, seed=1) == make_sentences(2, seed=1)
True
"""
from __future__ import annotations

import random

SUBJECTS = ["the old man", "a young girl", "my brother", "the teacher", "our neighbor", "the little dog",
            "a tall woman", "the doctor", "his father", "the children", "her mother", "the farmer"]
VERBS = ["found", "painted", "carried", "opened", "wanted", "watched", "cleaned", "bought", "closed",
         "moved", "needed", "counted"]
OBJECTS = ["a red box", "the green door", "seven apples", "the heavy table", "a small boat", "the new car",
           "two black cats", "a warm coat", "the long letter", "three yellow chairs", "the wooden house",
           "a bag of rice"]
PLACES = ["in the morning", "near the river", "after dinner", "before the rain", "at the market",
          "in the garden", "on the hill", "by the window", "during the summer", "at the station"]


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """`n` distinct sentences of five to twelve words; the same `seed` gives the same list."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        parts = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)]
        if rng.random() < 0.6:
            parts.append(rng.choice(PLACES))
        s = " ".join(parts)
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out
