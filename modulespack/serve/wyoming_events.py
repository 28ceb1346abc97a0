"""The Wyoming events a client sends, checked: `parse_event` gives the wyoming package's view of an
event, and a `WyomingError` (answered with an `error` event {text, code}; the connection stays open)
for a malformed one."""
from __future__ import annotations

import warnings
from typing import Any

with warnings.catch_warnings():  # as the other wyoming_* modules: some wyoming modules import audioop
    warnings.simplefilter("ignore", DeprecationWarning)
    from wyoming.event import Event

TEXT_FIELDS = ("text", "name", "language", "speaker")


class WyomingError(Exception):
    """Answered with an `error` event; the connection stays open."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


def parse_event(cls: Any, event: Event) -> Any:
    """The wyoming event class's view of `event`; a missing or wrong field is the client's mistake."""
    try:
        parsed = cls.from_event(event)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise WyomingError(f"{event.type}: malformed event data ({type(e).__name__}: {e})", "bad-event") from None
    for obj, where in ((parsed, ""), (getattr(parsed, "voice", None), "voice.")):
        for f in TEXT_FIELDS:  # the wyoming classes take any JSON value: a number here is the client's mistake
            v = getattr(obj, f, None)
            if v is not None and not isinstance(v, str):
                raise WyomingError(f"{event.type}: {where}{f} must be a string, not {v!r}", "bad-event")
    return parsed
