"""Options and arguments shared by several verbs, as click decorators.

The output convention of every verb (old and new) lives here:

- :func:`output_format`: ``-o/--format/--output FORMAT``, always the format (``table``,
  ``wide``, ``json``, ``yaml``, plus a verb's own such as ``sarif`` or ``markdown``);
- :func:`output_file`: ``--output-file PATH`` writes the result to a file instead of stdout.

A new verb takes both and hands them to ``commands.console.emit``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]

# The spellings of the format option: kubectl and argocd say -o/--output, others --format.
FORMAT_NAMES = ("-o", "--format", "--output")


class FormatChoice(click.Choice[str]):
    """A format name; a value that looks like a file name says to use ``--output-file``."""

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        message = super().get_invalid_choice_message(value, ctx)
        if "/" in str(value) or "." in str(value):
            message += " To write a file, use --output-file PATH (and -o for its format)."
        return message


def output_format(choices: Sequence[str], default: str, *names: str) -> Callable[[F], F]:
    """``-o/--format/--output FORMAT``, one of ``choices`` (``names``: more spellings)."""
    spellings = list(dict.fromkeys([*FORMAT_NAMES, *names]))
    return click.option(
        *spellings, "fmt", type=FormatChoice(list(choices)), default=default, show_default=True,
        metavar="FORMAT", help=f"Output format: {', '.join(choices)}.",
    )  # fmt: skip


def output_file(fn: F) -> F:
    """``--output-file PATH``: the result goes to this file (written atomically), not stdout."""
    return click.option(
        "--output-file", "output_file", type=click.Path(path_type=Path, dir_okay=False), metavar="PATH",
        help="Write the output (in the -o format) to PATH instead of stdout; notes stay on stderr.",
    )(fn)  # fmt: skip


def positive_seconds(name: str, help_text: str) -> Callable[[F], F]:
    """A number of seconds greater than zero (``--timeout``, ``--deadline``)."""
    return click.option(name, type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help=help_text)


def complete_targets(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of environment and Application names from the repository at hand."""
    from llmops.gitops.repo import Repository

    try:
        repo = Repository.discover(ctx.find_root().params.get("repo"))
        names = repo.config.environment_names() + [a.name for a in repo.applications()]
    except Exception:  # completion must never break the shell: no repository, no candidates
        return []
    return [n for n in dict.fromkeys(names) if n.startswith(incomplete)]


def targets(fn: F) -> F:
    """``[TARGET]...``: environments or Application names (default: all)."""
    return click.argument("targets", nargs=-1, metavar="[TARGET]...", shell_complete=complete_targets)(fn)


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(fn: F) -> F:
        for deco in reversed(decorators):
            fn = deco(fn)
        return fn

    return apply


endpoint = _stack(
    click.argument("environment", required=False, metavar="[ENV]", shell_complete=complete_targets),
    click.option("--url", help="Endpoint base URL, e.g. http://127.0.0.1:8000 (overrides ENV)."),
    click.option("-m", "--model", help="Served model name (default: the only one served)."),
    click.option("--token", help="Bearer token for auth-enabled endpoints (or set LLMOPS_TOKEN)."),
    click.option(
        "--token-file", type=click.Path(path_type=Path), metavar="PATH",
        help="Read the bearer token from a file (a mounted ServiceAccount token).",
    ),
    click.option(
        "--token-from-kubeconfig", is_flag=True,
        help="Use the bearer token of the current kubeconfig context (your `oc login`).",
    ),
)  # fmt: skip
"""ENV, --url, --model, --token, --token-file, --token-from-kubeconfig: which endpoint, which token."""

catalog = click.option(
    "--catalog", type=click.Path(path_type=Path), metavar="DIR",
    help="Catalog folder (default: validate.schemas in llmops.yaml).",
)  # fmt: skip


target = click.option(
    "--target", type=click.Choice(["local", "cluster"]),
    help="local: the embedded engine (llmops up); cluster: Argo CD on the kubeconfig's cluster "
    "(default: $LLMOPS_TARGET, else cluster.target in llmops.yaml, else local).",
)  # fmt: skip
"""``--target local|cluster``: which driver the environment verbs talk to."""

cluster = _stack(
    click.option(
        "--context", "kube_context", metavar="NAME", help="kubeconfig context (default: the current one)."
    ),
    click.option(
        "-n", "--namespace", "argocd_namespace", metavar="NS",
        help="Argo CD's namespace on the cluster (default: openshift-gitops).",
    ),
    click.option(
        "--kubeconfig", type=click.Path(path_type=Path), metavar="PATH", help="Default: $KUBECONFIG."
    ),
    click.option(
        "--request-timeout", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
        metavar="SECONDS", help="Seconds per Kubernetes API request.",
    ),
)  # fmt: skip
"""--context, --namespace, --kubeconfig, --request-timeout: which cluster and Argo CD namespace."""
