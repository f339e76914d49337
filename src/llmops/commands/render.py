"""``llmops render TARGET``: the manifests Argo CD would apply, from real kustomize.

Secret values are printed as ``<redacted>`` (keys kept) unless ``--show-secrets``: a
render ends up in CI logs and pull-request comments.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from llmops.commands import console
from llmops.errors import UsageError
from llmops.gitops import manifests
from llmops.gitops.render import render_apps
from llmops.gitops.repo import Repository
from llmops.support.files import atomic_write_text


def run(
    repo: Repository,
    targets: list[str],
    *,
    fmt: str = "yaml",
    output_file: Path | None = None,
    show_secrets: bool = False,
) -> int:
    apps = repo.resolve_many(targets)
    rendered = render_apps(repo.root, apps)
    if not show_secrets:
        rendered = [replace(r, resources=manifests.redact_secrets(r.resources)) for r in rendered]
    if fmt == "json":
        items = [r for item in rendered for r in item.resources]
        text = manifests.dump_json({"apiVersion": "v1", "kind": "List", "items": items})
    else:
        chunks = [
            f"# Application {item.app.name} ({item.app.environment}): {item.app.path}\n"
            + manifests.dump_yaml(item.resources)
            for item in rendered
        ]
        text = "---\n".join(chunks)
    if output_file is None:
        console.plain(text)
        return 0
    try:
        atomic_write_text(output_file, text if text.endswith("\n") else text + "\n", parents=True)
    except OSError as exc:
        raise UsageError(
            f"cannot write {output_file}: {exc.strerror or exc}",
            hint="give --output-file a path in a folder you can write to",
        ) from exc
    console.stderr.print(f"{len(apps)} application(s) rendered to {output_file}")
    return 0
