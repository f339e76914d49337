""" "Did you mean ...?": the closest valid value to a misspelt one (difflib), for error hints."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The valid value ``word`` abbreviates or extends (``prod`` for ``production``,
    ``qwen3-8b-instruct`` for ``qwen3-8b``) when only one does, else the most alike (difflib),
    else None."""
    options = list(choices)
    low = word.lower()
    related = [c for c in options if low and (c.lower().startswith(low) or low.startswith(c.lower()))]
    if len(related) == 1:
        return related[0]
    found = difflib.get_close_matches(word, options, n=1, cutoff=cutoff)
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str:
    """``"did you mean 'x'? "`` (with a trailing space) or ``""`` when nothing is close."""
    match = closest(word, choices, cutoff=cutoff)
    return f"did you mean {match!r}? " if match is not None else ""
