"""Text from untrusted places (manifests, kustomize, endpoints) made safe to show.

A value in a manifest or an endpoint's answer may hold terminal escape sequences (which
repaint a CI log or a terminal), other control characters (which make XML reports
ill-formed) or rich markup. :func:`printable` replaces every control character except
newline and tab with a visible escape, so what a reader sees is what the text holds.
"""

from __future__ import annotations

import re

# C0 controls but \t and \n, DEL, C1 controls; lone surrogates cannot be encoded at all.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with control characters (ANSI escapes included) written as ``\\xNN``."""
    return _CONTROL.sub(_visible, text)


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` on one printable line (whitespace runs folded), cut to ``limit`` characters."""
    folded = printable(" ".join(text.split()))
    return folded if limit is None or len(folded) <= limit else folded[:limit] + "..."


def scrub(text: str, secrets: set[str], *, marker: str = "<redacted>", shortest: int = 4) -> str:
    """``text`` without any of ``secrets`` (as written, JSON-escaped or repr-escaped).

    Values shorter than ``shortest`` characters are left alone: they cannot be told from
    ordinary words, and hold nothing worth hiding.
    """
    import json

    forms: set[str] = set()
    for value in secrets:
        if len(value.strip()) < shortest:
            continue
        forms.update({value, json.dumps(value)[1:-1], repr(value)[1:-1]})
        forms.update(line for line in value.splitlines() if len(line.strip()) >= shortest)
    for form in sorted(forms, key=len, reverse=True):
        if form in text:
            text = text.replace(form, marker)
    return text
