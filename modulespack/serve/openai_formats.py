"""A transcript in the OpenAI API's response formats: json, text, verbose_json, srt, vtt.

Segments come from word times (`{word, start, end}` seconds, the optional word output of a
transcription graph, e.g. pocketsphinx's `words`): a new segment starts after a pause or when a
segment holds enough words for a subtitle line. A graph without word times gives one segment over
the whole audio.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
TIMED_FORMATS = ("verbose_json", "srt", "vtt")   # those that use times (word times are fetched for them)
MEDIA_TYPES = {"json": "application/json", "verbose_json": "application/json", "text": "text/plain; charset=utf-8",
               "srt": "application/x-subrip; charset=utf-8", "vtt": "text/vtt; charset=utf-8"}

SEGMENT_PAUSE_S = 0.5   # a pause this long between words starts a new segment
SEGMENT_MAX_WORDS = 12  # about one subtitle line


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


def segments(text: str, duration: float, words: Sequence[dict[str, Any]] | None) -> list[Segment]:
    """Segments of a transcript: from word times when there are some, else one over the whole audio."""
    if not words:
        return [Segment(0.0, round(duration, 3), text)] if text else []
    out: list[Segment] = []
    group: list[dict[str, Any]] = []
    for w in words:
        if group and (float(w["start"]) - float(group[-1]["end"]) >= SEGMENT_PAUSE_S or len(group) >= SEGMENT_MAX_WORDS):
            out.append(_segment(group))
            group = []
        group.append(w)
    if group:
        out.append(_segment(group))
    return out


def _segment(words: list[dict[str, Any]]) -> Segment:
    return Segment(float(words[0]["start"]), float(words[-1]["end"]), " ".join(str(w["word"]) for w in words))


def _clock(seconds: float, sep: str) -> str:
    ms = max(round(seconds * 1000), 0)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt(segs: Sequence[Segment]) -> str:
    return "".join(f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n\n" for i, s in enumerate(segs, 1))


def vtt(segs: Sequence[Segment]) -> str:
    return "WEBVTT\n\n" + "".join(f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n\n" for s in segs)


def verbose_json(text: str, duration: float, language: str, segs: Sequence[Segment],
                 words: Sequence[dict[str, Any]] | None, want_words: bool) -> dict[str, Any]:
    """OpenAI's verbose transcription. The decoder's scores are not Whisper's: `avg_logprob`,
    `compression_ratio`, `no_speech_prob` and `tokens` are neutral placeholders that clients parsing
    Whisper's schema need to find."""
    body: dict[str, Any] = {"task": "transcribe", "language": language, "duration": round(duration, 3), "text": text}
    body["segments"] = [{"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text, "tokens": [],
                         "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 1.0, "no_speech_prob": 0.0}
                        for i, s in enumerate(segs)]
    if want_words:
        body["words"] = [{"word": str(w["word"]), "start": float(w["start"]), "end": float(w["end"])}
                         for w in (words or ())]
    return body


def render(fmt: str, text: str, duration: float, language: str, words: Sequence[dict[str, Any]] | None,
           granularities: Sequence[str] = ()) -> tuple[bytes, str]:
    """(body, media type) of a transcript in response format `fmt` (one of FORMATS).
    `granularities`: verbose_json's timestamp_granularities: "word" adds the words (segments are
    always there: they cost nothing more)."""
    if fmt == "json":
        data = json.dumps({"text": text}, ensure_ascii=False)
    elif fmt == "text":
        data = text + "\n"
    elif fmt == "verbose_json":
        segs = segments(text, duration, words)
        data = json.dumps(verbose_json(text, duration, language, segs, words, "word" in granularities),
                          ensure_ascii=False)
    elif fmt == "srt":
        data = srt(segments(text, duration, words))
    elif fmt == "vtt":
        data = vtt(segments(text, duration, words))
    else:
        raise ValueError(f"unknown response format {fmt!r}")
    return data.encode("utf-8"), MEDIA_TYPES[fmt]
