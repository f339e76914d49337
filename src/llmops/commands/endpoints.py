"""Where an environment's model answers when neither ``--url``, ``LLMOPS_ENDPOINT_<ENV>`` nor llmops.yaml
says: the target's driver knows (the embedded engine's stable endpoint; on a cluster, the
InferenceService's URL). Shared by ``smoke`` and ``bench``; not a verb itself."""

from __future__ import annotations

import os
from collections.abc import Callable

from llmops.errors import LlmopsError, UsageError
from llmops.gitops.repo import Repository
from llmops.probes.target import endpoint_env_var


def finder(
    environment: str | None, repository: Callable[[], Repository], target: str | None
) -> Callable[[str | None], str | None]:
    """A callback for ``smoke``/``bench``: given llmops.yaml's URL, the URL the driver reports (or None)."""

    def find(configured: str | None) -> str | None:
        if not environment or configured or os.environ.get(endpoint_env_var(environment)):
            return None
        from llmops.commands.drivers import driver_for

        try:
            statuses = driver_for(target, repository).status(environment)
        except LlmopsError as exc:
            raise UsageError(
                f"no endpoint URL known for environment {environment!r} ({exc.message})",
                hint=f"start the engine (llmops up), pass --url, or set {endpoint_env_var(environment)}",
            ) from exc
        found = sorted({s.endpoint for s in statuses if s.endpoint})
        return found[0] if found else None

    return find
