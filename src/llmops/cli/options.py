"""Option and argument types shared by several verbs, and the output formats each verb knows."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class RenderFormat(StrEnum):
    yaml = "yaml"
    json = "json"


class TableFormat(StrEnum):
    table = "table"
    json = "json"


class ValidateFormat(StrEnum):
    table = "table"
    json = "json"
    junit = "junit"
    sarif = "sarif"
    github = "github"


class SmokeFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"


class BenchFormat(StrEnum):
    text = "text"
    json = "json"


class DiffFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


Targets = Annotated[
    list[str], typer.Argument(help="Environments or Application names (default: all).", show_default=False)
]
EnvArg = Annotated[
    str | None, typer.Argument(help="Environment whose endpoint to use (see LLMOPS_ENDPOINT_<ENV>).")
]
UrlOpt = Annotated[
    str | None, typer.Option("--url", help="Endpoint base URL, e.g. http://127.0.0.1:8000 (overrides ENV).")
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Served model name (default: the only one served).")
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", help="Bearer token for auth-enabled endpoints (or set LLMOPS_TOKEN)."),
]
TokenFileOpt = Annotated[
    Path | None,
    typer.Option("--token-file", help="Read the bearer token from a file (a mounted ServiceAccount token)."),
]
CatalogOpt = Annotated[
    Path | None, typer.Option("--catalog", help="Catalog folder (default: validate.schemas in llmops.yaml).")
]
