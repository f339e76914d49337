"""docs/reference-json.md as tests read it: the documented JSON of each verb, and shape checks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parent.parent / "docs" / "reference-json.md"
# Maps whose keys depend on what was measured or configured: only their presence is the contract.
OPEN_MAPS = {"metrics", "disabled", "context", "files", "environments"}


def documented() -> dict[str, Any]:
    """The example document of each ``## `llmops COMMAND -o json``` section, keyed by COMMAND
    as the heading writes it (``promote SRC DST``, ``validate --list-rules``)."""
    out: dict[str, Any] = {}
    for heading, block in re.findall(
        r"^## `llmops ([^`]*?) -o json`.*?```json\n(.*?)```", DOC.read_text(), flags=re.M | re.S
    ):
        out[heading] = json.loads(block)
    return out


def shape(value: Any, key: str = "") -> Any:
    """The structure of a JSON value: the keys of each object, the first element of each list.

    A map named in :data:`OPEN_MAPS` is only "a map"; the elements of a list are checked
    whatever the list is called.
    """
    if isinstance(value, dict):
        if key in OPEN_MAPS:
            return "{...}"
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return "value"


def same_shape(doc: Any, real: Any, where: str = "$") -> list[str]:
    """Differences between two shapes (an empty list on either side matches any list)."""
    if isinstance(doc, dict) and isinstance(real, dict):
        problems = [f"{where}: documented, not produced: {k}" for k in doc.keys() - real.keys()]
        problems += [f"{where}: produced, not documented: {k}" for k in real.keys() - doc.keys()]
        for k in doc.keys() & real.keys():
            problems += same_shape(doc[k], real[k], f"{where}.{k}")
        return problems
    if isinstance(doc, list) and isinstance(real, list):
        return same_shape(doc[0], real[0], f"{where}[0]") if doc and real else []
    return [] if type(doc) is type(real) or "value" in (doc, real) else [f"{where}: {doc!r} vs {real!r}"]


def check(docs: dict[str, Any], command: str, real: Any) -> None:
    """Assert that ``real`` (a verb's parsed JSON) has exactly the documented shape."""
    assert command in docs, f"docs/reference-json.md has no section for `llmops {command} -o json`"
    problems = same_shape(shape(docs[command]), shape(real))
    assert not problems, "\n".join(problems)
