"""``llmops validate``: the pre-merge gate (build, YAML, strict schemas, security, GitOps, serving)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from llmops.commands import console
from llmops.errors import UsageError
from llmops.gitops.repo import Repository
from llmops.support.files import atomic_write_text
from llmops.validation import formats, runner
from llmops.validation.rules import REGISTRY
from llmops.validation.types import Rule


def run(
    repo: Repository,
    environments: list[str],
    *,
    fmt: str = "table",
    changed_only: bool = False,
    base: str = "origin/main",
    output_file: Path | None = None,
    debug: bool = False,
    registry: Mapping[str, Rule] = REGISTRY,
) -> int:
    """Validate, print (or write) the report, and return 1 when a blocking finding exists.

    ``debug`` lets an exception raised inside a rule propagate (with its traceback)
    instead of becoming a "the rule could not finish" finding. ``registry``: the rules
    to run (tests pass their own).
    """
    envs: list[str] | None = environments or None
    if changed_only:
        envs = runner.environments_to_check(repo, base, environments)
        console.stderr.print(
            f"changed since {base}: {', '.join(envs) if envs else 'no environment'} "
            "(repository-wide checks always run)"
        )
    result = runner.run(repo, registry, environments=envs, debug=debug)
    if fmt == "table":
        formats.render_table(result, registry, console.stdout)
    elif output_file is not None:
        _write(output_file, formats.FORMATS[fmt](result, registry) + "\n")
        console.stderr.print(f"report written to {output_file}")
    else:
        console.plain(formats.FORMATS[fmt](result, registry))
    return result.exit_code


def _write(path: Path, text: str) -> None:
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise UsageError(
            f"cannot write the report {path}: {exc.strerror or exc}",
            hint="pass --output a file in a folder that exists and that you can write to",
        ) from exc
