"""``llmops render TARGET``: the manifests Argo CD would apply, from real kustomize.

Secret values are printed as ``<redacted>`` (keys kept) unless ``--show-secrets``: a
render ends up in CI logs and pull-request comments.
"""

from __future__ import annotations

from dataclasses import replace

from llmops.commands import console
from llmops.gitops import manifests
from llmops.gitops.render import render_apps
from llmops.gitops.repo import Repository


def run(repo: Repository, targets: list[str], *, fmt: str = "yaml", show_secrets: bool = False) -> int:
    apps = repo.resolve_many(targets)
    rendered = render_apps(repo.root, apps)
    if not show_secrets:
        rendered = [replace(r, resources=manifests.redact_secrets(r.resources)) for r in rendered]
    if fmt == "json":
        items = [r for item in rendered for r in item.resources]
        console.plain(manifests.dump_json({"apiVersion": "v1", "kind": "List", "items": items}))
        return 0
    chunks = [
        f"# Application {item.app.name} ({item.app.environment}): {item.app.path}\n"
        + manifests.dump_yaml(item.resources)
        for item in rendered
    ]
    console.plain("---\n".join(chunks))
    return 0
