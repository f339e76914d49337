"""``llmops render TARGET``: the manifests Argo CD would apply, from real kustomize."""

from __future__ import annotations

from llmops.commands import console
from llmops.gitops import manifests
from llmops.gitops.render import render_apps
from llmops.gitops.repo import Repository


def run(repo: Repository, targets: list[str], *, fmt: str = "yaml") -> int:
    apps = repo.resolve_many(targets)
    rendered = render_apps(repo.root, apps)
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
