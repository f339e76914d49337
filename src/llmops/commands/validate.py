"""``llmops validate``: the pre-merge gate (build, YAML, strict schemas, security, GitOps, serving)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from llmops import git, output, report, validate
from llmops.config import CONFIG_FILE
from llmops.kustomize_tree import closure
from llmops.repo import Repository
from llmops.rules import REGISTRY


def _fallback_affected(repo: Repository, base: str) -> list[str]:
    """Environments whose overlays, bases or Applications differ from ``base`` (incl. uncommitted work)."""
    root = repo.root
    changed = set(git.run(root, "diff", "--name-only", base, "--").split())
    changed |= set(git.run(root, "ls-files", "--others", "--exclude-standard").split())
    catalog = repo.config.validate_.schemas.strip("/")
    if any(
        c in (CONFIG_FILE, ".yamllint", ".yamllint.yaml", ".yamllint.yml") or c.startswith(catalog + "/")
        for c in changed
    ):
        return repo.config.environment_names()
    paths = [(root / c).resolve() for c in changed]
    hit: set[str] = set()
    for app in repo.applications():
        if str(app.file) in changed:
            hit.add(app.environment)
            continue
        dirs = closure(root / app.path)
        if any(p.is_relative_to(d) for p in paths for d in dirs):
            hit.add(app.environment)
    return [e for e in repo.config.environment_names() if e in hit]


def affected(repo: Repository, base: str) -> list[str]:
    """Use ``llmops.affected`` when it is installed, else the fallback above."""
    try:
        module: Any = importlib.import_module("llmops.affected")
    except ImportError:
        return _fallback_affected(repo, base)
    result = module.affected_environments(repo, base, "HEAD")
    return [e if isinstance(e, str) else str(e.name) for e in result]


def run(
    repo: Repository,
    environments: list[str],
    *,
    fmt: str = "table",
    changed_only: bool = False,
    base: str = "origin/main",
    output_file: Path | None = None,
) -> int:
    envs: list[str] | None = environments or None
    if changed_only:
        touched = affected(repo, base)
        envs = [e for e in touched if not environments or e in environments]
        output.stderr.print(
            f"changed since {base}: {', '.join(envs) if envs else 'no environment'} "
            "(repository-wide checks always run)"
        )
    result = validate.run(repo, environments=envs, registry=REGISTRY)
    if fmt == "table":
        report.render_table(result, REGISTRY, output.stdout)
    else:
        text = report.FORMATS[fmt](result, REGISTRY)
        if output_file is not None:
            output_file.write_text(text + "\n", encoding="utf-8")
            output.stderr.print(f"report written to {output_file}")
        else:
            output.plain(text)
    return result.exit_code
