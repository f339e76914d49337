"""Command output: the data to stdout (or ``--output-file``), notes and progress to stderr.

Every verb follows one convention (docs/troubleshooting.md, docs/reference-json.md):

- :func:`emit` writes a result as ``json`` or ``yaml`` (the same shape, documented per verb)
  or hands a rich console to the command for its human formats (``table``, ``wide``,
  ``text``); :func:`write` writes text a command formatted itself (SARIF, JUnit, Markdown).
  Both go to stdout, or atomically to the ``--output-file`` path, never both.
- :func:`note` and :func:`progress` go to stderr, so stdout carries only the data asked for;
  progress shows only when stderr is a terminal.
- :func:`configure` (``--no-color``) or ``NO_COLOR`` turns off every style, not just colour.
- A closed stdout (``llmops validate | head -1``) raises :class:`BrokenPipeError`, which the
  CLI boundary turns into exit 141.

The rich consoles are made on first use, so a command that prints only JSON or YAML
never imports rich.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import UsageError
from llmops.support.files import atomic_write_text, report_path

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

# Width of tables written to a pipe or a file when COLUMNS does not say (CI logs are wide).
PIPE_WIDTH = 160
# Formats every verb spells the same way; a verb adds its own (sarif, junit, markdown, ...).
DATA_FORMATS = ("json", "yaml")
HUMAN_FORMATS = ("table", "wide", "text")
WIDE = 10_000  # columns of a `-o wide` table: as wide as its content


@dataclass
class _Settings:
    no_color: bool = False
    root: Path | None = None  # the repository at hand: a file written inside it stays inside


_settings = _Settings()


def configure(*, no_color: bool = False) -> None:
    """Settings of this run (the root command calls it with ``--no-color``)."""
    _settings.no_color = no_color
    _settings.root = None
    _console.cache_clear()


def bind_repository(root: Path) -> None:
    """The repository this run works on (the CLI calls it when it opens one): an
    ``--output-file`` inside it must not leave it through a link a pull request planted."""
    _settings.root = root


def output_path(path: Path) -> Path:
    """Where ``--output-file PATH`` goes; refused (one line) when, inside the repository at hand,
    it leads out of it through a link. Commands that run long call it first, to fail fast."""
    return report_path(_settings.root, path, what="output") if _settings.root is not None else path


def styled() -> bool:
    """Whether styles (colour, bold, dim) may be used: not with --no-color or NO_COLOR."""
    return not _settings.no_color and not os.environ.get("NO_COLOR")


def width() -> int | None:
    """Columns for tables: ``COLUMNS`` when set, the terminal's own, else :data:`PIPE_WIDTH`."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if sys.stdout.isatty() else PIPE_WIDTH


def _make(err: bool, file: Any = None, columns: int | None = None, styles: bool = True) -> Console:
    from rich.console import Console

    class _PipeAwareConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich exits with 1 here; llmops leaves the exit code to the CLI boundary (141).
            self.quiet = True
            raise BrokenPipeError

    use_styles = styles and styled()
    return _PipeAwareConsole(
        stderr=err,
        file=file,
        width=columns,
        soft_wrap=False,
        highlight=False,
        color_system="auto" if use_styles else None,
        no_color=not use_styles,
    )


@cache
def _console(err: bool) -> Console:
    return _make(err, columns=None if err else width())


def __getattr__(name: str) -> Console:
    """``console.stdout`` and ``console.stderr``, made when first asked for."""
    if name in ("stdout", "stderr"):
        return _console(name == "stderr")
    raise AttributeError(name)


def plain(text: str) -> None:
    """Write machine-readable text (YAML, JSON) to stdout, untouched by rich markup."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def safe(value: object) -> str:
    """``value`` as text to put inside rich markup: control characters made visible (terminal
    escapes from a manifest or an endpoint must not repaint the screen) and markup escaped
    (a name such as ``[/x]`` is text, not a tag)."""
    from rich.markup import escape

    from llmops.support.text import printable

    return escape(printable(str(value)))


def escape(text: str) -> str:
    """``text`` safe to put inside rich markup: the same as :func:`safe`."""
    return safe(text)


def table(title: str, headers: list[str], **kwargs: Any) -> Table:
    """A table that fits any width by folding cells (long words split), never by dropping or
    cropping a column. ``kwargs`` go to rich's ``Table`` (e.g. ``show_lines``)."""
    from rich.table import Table

    made = Table(title=title, title_justify="left", **kwargs)
    for header in headers:
        made.add_column(header, overflow="fold")
    return made


def note(markup: str) -> None:
    """A message for the person running the command (stderr, rich markup)."""
    _console(True).print(markup, soft_wrap=True)


def write(text: str, output_file: Path | None = None, *, label: str | None = None) -> None:
    """``text`` to stdout, or atomically to ``output_file`` (parent folders made) with a note
    (``label``: what the file holds, e.g. "junit report")."""
    if output_file is None:
        plain(text)
        return
    output_file = output_path(output_file)
    try:
        atomic_write_text(output_file, text if text.endswith("\n") else text + "\n", parents=True)
    except OSError as exc:
        raise UsageError(
            f"cannot write {output_file}: {_why_not(output_file, exc)}",
            hint="pass --output-file a file path in a folder you can write to",
        ) from exc
    note(f"[dim]wrote {escape(label + ' to ' if label else '')}{escape(str(output_file))}[/]")


def _why_not(path: Path, exc: OSError) -> str:
    for parent in path.parents:  # "File exists" from making a folder means a file is in the way
        if parent.exists():
            return str(exc.strerror or exc) if parent.is_dir() else f"{parent} is a file, not a folder"
    return str(exc.strerror or exc)


def serialize(data: Any, fmt: str) -> str:
    """``data`` as JSON (indented) or YAML (block style, multi-line text as ``|`` blocks), keys in
    the order given."""
    if fmt == "json":
        return json.dumps(data, indent=2, default=str) + "\n"
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None  # PyYAML falls back to quotes when | cannot hold it
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    return str(
        yaml.dump(
            json.loads(json.dumps(data, default=str)),  # plain types only, like the JSON
            Dumper=_Dumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=1000,
        )
    )


def emit(
    data: Any,
    fmt: str,
    *,
    output_file: Path | None = None,
    human: Callable[[Console], None] | None = None,
) -> None:
    """Write a verb's result: ``json``/``yaml`` of ``data``, else ``human`` draws it on a console.

    ``wide`` tables keep their natural width (no folding); the others fold to the terminal,
    ``COLUMNS`` or :data:`PIPE_WIDTH`. With ``output_file`` the result goes there (atomically,
    without styles) instead of stdout.
    """
    if fmt in DATA_FORMATS or human is None:
        write(serialize(data, fmt if fmt in DATA_FORMATS else "json"), output_file)
        return
    columns = WIDE if fmt == "wide" else None
    if output_file is None:
        human(_make(False, columns=columns) if columns else _console(False))
        return
    buffer = io.StringIO()
    human(_make(False, file=buffer, columns=columns or width() or PIPE_WIDTH, styles=False))
    write(buffer.getvalue(), output_file)


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A progress line on stderr while long work runs, only when stderr is a terminal.

    Yields ``advance(n=1)`` (thread-safe); the line disappears when the work ends.
    """
    if not sys.stderr.isatty():

        def nothing(_n: int = 1) -> None:
            return None

        yield nothing
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=_console(True), transient=True) as bar:
        task = bar.add_task(escape(description), total=total)
        bar.refresh()

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance
