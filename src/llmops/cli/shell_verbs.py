"""Verbs about the shell llmops runs in: ``completion``."""

from __future__ import annotations

import click

from llmops.cli.app import app, invocation
from llmops.cli.boundary import dispatch

SECTION = "Shell"
SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_LLMOPS_COMPLETE"  # click's variable for prog_name "llmops"


def completion_script(shell: str) -> str:
    """click's completion script for ``shell``: it asks ``llmops`` itself for the candidates."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:  # the choice below allows only shells click supports
        raise click.BadParameter(f"no completion for {shell}")
    return cls(app, {}, "llmops", COMPLETE_VAR).source()


@app.verb(
    SECTION,
    examples=[
        "source <(llmops completion bash)                   # this bash session",
        "llmops completion bash > ~/.local/share/bash-completion/completions/llmops",
        'llmops completion zsh > "${fpath[1]}/_llmops"       # zsh (compinit)',
        "llmops completion fish > ~/.config/fish/completions/llmops.fish",
    ],
)
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish (verbs, options, environments)."""
    from llmops.commands import completion as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run(completion_script(shell)))
