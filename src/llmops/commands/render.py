"""``llmops render TARGET``: the manifests Argo CD would apply, from real kustomize.

Secret values are printed as ``<redacted>`` (keys kept) unless ``--show-secrets``: a
render ends up in CI logs and pull-request comments.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from llmops.commands import console
from llmops.gitops import manifests
from llmops.gitops.render import render_apps
from llmops.gitops.repo import Repository

# From this many Applications on, a progress line shows while kustomize runs (on a terminal).
LARGE_FLEET = 10


def run(
    repo: Repository,
    targets: list[str],
    *,
    fmt: str = "yaml",
    output_file: Path | None = None,
    show_secrets: bool = False,
) -> int:
    apps = repo.resolve_many(targets)
    overlays = len({a.path for a in apps})
    if overlays >= LARGE_FLEET:
        with console.progress(f"kustomize: {overlays} overlays", total=overlays) as advance:
            rendered = render_apps(repo.root, apps, on_done=lambda: advance(1))
    else:
        rendered = render_apps(repo.root, apps)
    if not show_secrets:
        rendered = [replace(r, resources=manifests.redact_secrets(r.resources)) for r in rendered]
    if fmt == "json":
        items = [r for item in rendered for r in item.resources]
        console.emit({"apiVersion": "v1", "kind": "List", "items": items}, "json", output_file=output_file)
        return 0
    chunks = [
        f"# Application {item.app.name} ({item.app.environment}): {item.app.path}\n"
        + manifests.dump_yaml(item.resources)
        for item in rendered
    ]
    console.write("---\n".join(chunks), output_file)
    return 0
