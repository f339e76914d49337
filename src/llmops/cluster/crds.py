"""The CustomResourceDefinitions a live cluster serves, for ``llmops schemas pull``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmops.cluster.client import DEFAULT_TIMEOUT, connect
from llmops.cluster.kinds import CRD


def list_crds(
    kubeconfig: Path | None = None, context: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> Iterator[dict[str, Any]]:
    """Every CustomResourceDefinition the cluster serves (lightkube pages through the list)."""
    with connect(kubeconfig=kubeconfig, context=context, timeout=timeout) as api:
        yield from api.objects(CRD)
