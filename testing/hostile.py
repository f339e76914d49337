"""Hostile repository content shared by tests and benchmarks."""

from __future__ import annotations

import itertools


def alias_bomb(name: str, levels: int) -> str:
    """A ConfigMap of nested YAML aliases: 9**(levels+1) strings from a few hundred bytes."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: {name}", "data:"]
    lines.append('  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
    for prev, cur in itertools.pairwise("abcdefghijklmnop"[: levels + 1]):
        lines.append(f"  {cur}: &{cur} [{','.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"
