"""The effective vLLM command line of an InferenceService, parsed like vLLM parses it.

KServe starts the ServingRuntime's container with the runtime's ``args`` followed
by the InferenceService's ``spec.predictor.model.args``, after substituting
``{{.Name}}`` with the InferenceService name. vLLM's argument parser accepts
``--key=value`` and ``--key value``, treats ``_`` and ``-`` alike, and lets the last
occurrence win. The flag catalog (``serving/data/vllm_flags.json``) is generated from a
real vLLM's own parser by ``scripts/gen_vllm_flags.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from llmops.gitops.manifests import Resource, get_path
from llmops.support.suggest import closest

Source = Literal["runtime", "inferenceservice", "cli"]
# vLLM's parser turns -O<n> into the compilation config; not in the generated catalog.
_EXTRA_ALIASES = {"O": "compilation-config"}


@dataclass(frozen=True, kw_only=True)
class FlagSpec:
    name: str
    kind: Literal["bool", "value", "list"]
    type: str | None = None
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Catalog:
    vllm_version: str
    flags: dict[str, FlagSpec]
    aliases: dict[str, str]

    def lookup(self, name: str) -> FlagSpec | None:
        return self.flags.get(name)


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    raw: dict[str, Any] = json.loads(
        resources.files("llmops.serving").joinpath("data/vllm_flags.json").read_text(encoding="utf-8")
    )
    flags = {
        name: FlagSpec(
            name=name,
            kind=spec["kind"],
            type=spec.get("type"),
            choices=tuple(spec["choices"]) if spec.get("choices") else None,
        )
        for name, spec in raw["flags"].items()
    }
    return Catalog(str(raw["vllm_version"]), flags, {**raw.get("aliases", {}), **_EXTRA_ALIASES})


@dataclass(frozen=True, kw_only=True)
class Occurrence:
    """One flag as written, with where it came from (for error locations)."""

    flag: str  # canonical long name without dashes, e.g. "max-model-len"
    value: str | None  # None for boolean switches
    source: Source
    index: int  # position in that source's list
    raw: str  # the token as written
    known: bool


@dataclass(frozen=True)
class VllmArgs:
    occurrences: tuple[Occurrence, ...]
    positionals: tuple[str, ...] = ()
    options: dict[str, str | None] = field(default_factory=dict)  # last occurrence wins

    @classmethod
    def of(cls, occurrences: Sequence[Occurrence], positionals: Sequence[str] = ()) -> VllmArgs:
        """The arguments as vLLM reads them: for each flag, its last occurrence wins."""
        return cls(tuple(occurrences), tuple(positionals), {o.flag: o.value for o in occurrences})

    def followed_by(self, later: VllmArgs) -> VllmArgs:
        """These arguments with ``later`` appended (so ``later`` wins where both set a flag)."""
        return VllmArgs.of(self.occurrences + later.occurrences, self.positionals + later.positionals)

    def has(self, flag: str) -> bool:
        return flag in self.options

    def get(self, flag: str) -> str | None:
        return self.options.get(flag)

    def last(self, flag: str) -> Occurrence | None:
        for occ in reversed(self.occurrences):
            if occ.flag == flag:
                return occ
        return None

    def unknown(self) -> list[Occurrence]:
        return [o for o in self.occurrences if not o.known]

    def int_value(self, flag: str) -> int | None:
        """The flag as an int; raises ValueError for a malformed value (e.g. ``--port=abc``)."""
        value = self.options.get(flag)
        if value is None:
            return None
        return _parse_int(value)

    def float_value(self, flag: str) -> float | None:
        value = self.options.get(flag)
        return None if value is None else float(value)


_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _parse_int(value: str) -> int:
    """vLLM's human-readable integers: 8192, 8k (8,000), 8K (8,192), 25.6k; -1/auto = auto."""
    text = value.strip()
    if text == "-1" or text.lower() == "auto":
        return -1
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgGtT])", text)
    if match:
        number, suffix = match.groups()
        if suffix in _DECIMAL:
            return int(float(number) * _DECIMAL[suffix])
        return int(number) * _BINARY[suffix]  # decimals with binary suffixes are an error in vLLM
    return int(text)


def _canonical(token: str, cat: Catalog) -> str:
    name = token.lstrip("-")
    if token.startswith("--"):
        return name.replace("_", "-")
    return cat.aliases.get(name, name)


def parse(tokens: list[str], source: Source = "cli", *, start: int = 0) -> tuple[list[Occurrence], list[str]]:
    """Parse one argument list; returns flag occurrences and positional arguments."""
    cat = catalog()
    occ: list[Occurrence] = []
    positionals: list[str] = []
    i = 0
    while i < len(tokens):
        tok = str(tokens[i])
        if not tok.startswith("-") or tok == "-" or _is_number(tok):
            positionals.append(tok)
            i += 1
            continue
        if tok.startswith("-O") and not tok.startswith("--") and len(tok) > 2:  # -O3, -O0
            occ.append(
                Occurrence(
                    flag="compilation-config",
                    value=tok[2:].lstrip("="),
                    source=source,
                    index=start + i,
                    raw=tok,
                    known=True,
                )
            )
            i += 1
            continue
        name, eq, inline = tok.partition("=")
        flag = _canonical(name, cat)
        spec = cat.lookup(flag)
        if eq:
            value: str | None = inline
        elif spec is not None and spec.kind == "bool":
            value = None
        elif spec is not None and spec.kind == "list":
            values = []
            while i + 1 < len(tokens) and not str(tokens[i + 1]).startswith("-"):
                values.append(str(tokens[i + 1]))
                i += 1
            value = " ".join(values) if values else ""
        elif i + 1 < len(tokens) and (
            not str(tokens[i + 1]).startswith("-") or _is_number(str(tokens[i + 1]))
        ):
            value = str(tokens[i + 1])
            i += 1
        else:
            value = None
        occ.append(
            Occurrence(
                flag=flag, value=value, source=source, index=start + i, raw=tok, known=spec is not None
            )
        )
        i += 1
    return occ, positionals


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def runtime_container(runtime: Resource) -> dict[str, Any] | None:
    containers = get_path(runtime, "spec.containers") or []
    if not isinstance(containers, list) or not containers:
        return None
    named = [c for c in containers if isinstance(c, dict) and c.get("name") == "kserve-container"]
    first = named[0] if named else containers[0]
    return first if isinstance(first, dict) else None


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def effective(isvc: Resource, runtime: Resource | None = None) -> VllmArgs:
    """The vLLM arguments KServe would pass for this InferenceService (and its runtime)."""
    name = str(get_path(isvc, "metadata.name") or "")
    occurrences: list[Occurrence] = []
    positionals: list[str] = []
    if runtime is not None:
        container = runtime_container(runtime) or {}
        runtime_args = [a.replace("{{.Name}}", name) for a in _as_list(container.get("args"))]
        occ, pos = parse(runtime_args, "runtime")
        occurrences += occ
        positionals += pos
    model_args = [a.replace("{{.Name}}", name) for a in _as_list(get_path(isvc, "spec.predictor.model.args"))]
    occ, pos = parse(model_args, "inferenceservice")
    return VllmArgs.of(occurrences + occ, positionals + pos)


def from_cli(tokens: list[str]) -> VllmArgs:
    return VllmArgs.of(*parse(tokens, "cli"))


def unknown_flag(occ: Occurrence) -> tuple[str, str]:
    """The one verdict on a flag vLLM does not know, shared by ``validate`` and ``size``:
    (message, hint with the closest known flag)."""
    cat = catalog()
    suggestion = closest(occ.flag, cat.flags, cutoff=0.75)
    hint = f"did you mean --{suggestion}? " if suggestion else ""
    return (
        f"{occ.raw} is not a vLLM {cat.vllm_version} option: vLLM exits at start-up",
        hint + "spell flags as `vllm serve --help` does",
    )
