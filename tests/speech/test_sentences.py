"""The generated sentences use words, spelt as pocketsphinx's US English model writes them, so a
transcript can match its reference word for word."""
from __future__ import annotations

import pytest

from modulespack.speech import sentences as S

pytest.importorskip("pocketsphinx")


def us_spellings(word: str) -> list[str]:
    """US forms of a British spelling (neighbour, centre, colourise, travelled, catalogue), if any."""
    forms = []
    if word.endswith("our") and len(word) > 4:
        forms.append(word[:-3] + "or")
    if "our" in word[1:-3]:
        forms.append(word.replace("our", "or"))
    if word.endswith("re") and len(word) > 4:
        forms.append(word[:-2] + "er")
    if "ise" in word:
        forms.append(word.replace("ise", "ize"))
    if "ll" in word and word.endswith(("lled", "lling")):
        forms.append(word.replace("ll", "l", 1))
    if word.endswith("ogue"):
        forms.append(word[:-2])
    return forms


def test_words_are_in_the_us_dictionary_with_us_spelling():
    from modulespack.speech.asr import default_model_paths

    with open(default_model_paths()["dict"], encoding="utf-8") as f:
        known = {line.split()[0].split("(")[0] for line in f if line.strip()}
    words = {w for group in (S.SUBJECTS, S.VERBS, S.OBJECTS, S.PLACES) for phrase in group for w in phrase.split()}
    assert sorted(w for w in words if w not in known) == []
    british = {w: [u for u in us_spellings(w) if u in known] for w in words}
    assert {w: us for w, us in british.items() if us} == {}


def test_neighbor():
    assert any("our neighbor" in s for s in S.make_sentences(200, seed=1))
    assert not any("neighbour" in s for s in S.make_sentences(200, seed=1))
