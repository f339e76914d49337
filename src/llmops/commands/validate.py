"""``llmops validate``: the pre-merge gate (build, YAML, strict schemas, security, GitOps, serving)."""

from __future__ import annotations

from pathlib import Path

from llmops.commands import console
from llmops.delivery.affected import affected_environments
from llmops.gitops import git
from llmops.gitops.config import CONFIG_FILE
from llmops.gitops.repo import Repository
from llmops.validation import formats as report
from llmops.validation import runner as validate
from llmops.validation.rules import REGISTRY

_VALIDATION_INPUTS = (CONFIG_FILE, ".yamllint", ".yamllint.yaml", ".yamllint.yml")


def affected(repo: Repository, base: str) -> list[str]:
    """Environments to validate for the change from ``base`` to the working tree.

    A change to what validation itself reads (``llmops.yaml``, the yamllint config, the
    schema catalog) affects every environment; otherwise the environments whose
    renders the changed files feed (:func:`llmops.affected.affected_environments`).
    """
    changed = git.changed_files(repo.root, git.resolve_commit(repo.root, base), None)
    catalog = repo.config.validate_.schemas.strip("/")
    if any(c in _VALIDATION_INPUTS or c.startswith(catalog + "/") for c in changed):
        return repo.config.environment_names()
    return affected_environments(repo, base, None)


def run(
    repo: Repository,
    environments: list[str],
    *,
    fmt: str = "table",
    changed_only: bool = False,
    base: str = "origin/main",
    output_file: Path | None = None,
    debug: bool = False,
) -> int:
    envs: list[str] | None = environments or None
    if changed_only:
        touched = affected(repo, base)
        envs = [e for e in touched if not environments or e in environments]
        console.stderr.print(
            f"changed since {base}: {', '.join(envs) if envs else 'no environment'} "
            "(repository-wide checks always run)"
        )
    result = validate.run(repo, environments=envs, registry=REGISTRY)
    if fmt == "table":
        report.render_table(result, REGISTRY, console.stdout)
    else:
        text = report.FORMATS[fmt](result, REGISTRY)
        if output_file is not None:
            output_file.write_text(text + "\n", encoding="utf-8")
            console.stderr.print(f"report written to {output_file}")
        else:
            console.plain(text)
    return result.exit_code
