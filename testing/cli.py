"""The result of an in-process CLI run, as tests read it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def yaml(self) -> list[dict[str, Any]]:
        return [d for d in yaml.safe_load_all(self.out) if d]

    @property
    def error_lines(self) -> list[str]:
        """The ``error:`` lines on stderr."""
        return [ln for ln in self.err.splitlines() if ln.startswith(("error:", "internal error:"))]
