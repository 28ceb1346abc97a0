"""Small recognition grammars and language models built from example sentences, for pocketsphinx.

- :func:`jsgf_from_sentences` — a JSGF grammar accepting exactly the given sentences.
- :func:`arpa_from_sentences` — an ARPA trigram model, built with the builder pocketsphinx 5
  ships (`pocketsphinx.lm.ArpaBoLM`, fixed-discount back-off), so the model is what
  `pocketsphinx_lm` would make from the same text.
- :func:`kws_from_keyphrases` — a keyword-spotting list (one phrase and threshold per line).
- :func:`words_of`, :func:`read_dictionary`, :func:`dictionary_subset`, :func:`missing_words` — the
  tokenisation every builder uses, and the pronunciations of just the words a grammar needs.

>>> print(jsgf_from_sentences(["Open the door.", "close the door"]))  # doctest: +NORMALIZE_WHITESPACE
#JSGF V1.0;
grammar modulespack;
public <utterance> = ( open the door ) | ( close the door );
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Container, Iterable

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*'?")


def words_of(sentence: str) -> list[str]:
    """Lower-case words of a sentence, punctuation dropped (apostrophes inside words kept).

    >>> words_of("The dog's bone, please!")
    ['the', "dog's", 'bone', 'please']
    """
    return _WORD.findall(sentence.lower())


def _clean(sentences: Iterable[str], what: str) -> list[list[str]]:
    if isinstance(sentences, str):
        raise TypeError(f"{what}: expected a list of sentences, got a single string")
    out, seen = [], set()
    for s in sentences:
        ws = words_of(str(s))
        if ws and tuple(ws) not in seen:
            seen.add(tuple(ws))
            out.append(ws)
    if not out:
        raise ValueError(f"{what}: no words in the given sentences")
    return out


def jsgf_from_sentences(sentences: Iterable[str]) -> str:
    """A JSGF grammar whose one public rule accepts each sentence (duplicates dropped)."""
    alts = " | ".join(f"( {' '.join(ws)} )" for ws in _clean(sentences, "grammar_sentences"))
    return f"#JSGF V1.0;\ngrammar modulespack;\npublic <utterance> = {alts};\n"


def arpa_from_sentences(sentences: Iterable[str], discount_mass: float = 0.5) -> str:
    """An ARPA trigram language model of the sentences (with <s> and </s>), as text."""
    from pocketsphinx.lm import ArpaBoLM

    text = "\n".join(" ".join(ws) for ws in _clean(sentences, "lm_sentences"))
    lm = ArpaBoLM(text=text, add_start=True, discount_mass=discount_mass)
    lm.compute()
    buf = io.StringIO()
    lm.write(buf)
    return buf.getvalue()


def kws_from_keyphrases(keyphrases: Iterable[str], threshold: float = 1e-20) -> str:
    """A pocketsphinx keyword list: `phrase /threshold/` per line."""
    return "".join(f"{' '.join(ws)} /{threshold:g}/\n" for ws in _clean(keyphrases, "keyphrases"))


def read_dictionary(path: str | Path) -> dict[str, list[str]]:
    """Entries of a CMU-format pronouncing dictionary: word -> its lines (alternates `word(2)` included)."""
    entries: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            head = line.split(maxsplit=1)
            if not head or line.startswith(";;;"):
                continue
            w = head[0]
            if w.endswith(")") and "(" in w:
                w = w[:w.rindex("(")]
            entries.setdefault(w, []).append(line.rstrip("\n") + "\n")
    return entries


def dictionary_subset(entries: dict[str, list[str]], sentences: Iterable[str]) -> str:
    """The dictionary lines for the words of the sentences (words without an entry are skipped)."""
    words = dict.fromkeys(w for s in sentences for w in words_of(str(s)))
    return "".join(line for w in words for line in entries.get(w, ()))


def missing_words(sentences: Iterable[str], dictionary: Container[str]) -> list[str]:
    """Words of the sentences that the dictionary has no pronunciation for, in first-seen order."""
    out: list[str] = []
    for s in sentences:
        for w in words_of(str(s)):
            if w not in dictionary and w not in out:
                out.append(w)
    return out
