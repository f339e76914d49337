"""The engine verbs when something is wrong: no engine running, a state directory that cannot be
written, a port in use. One ``error:`` line, one ``hint:`` line, exit 2, never a traceback."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from testing.cli import CliResult
from testing.engine import light_repo

Cli = Callable[..., CliResult]


@pytest.fixture
def light(tmp_path: Path) -> Path:
    return light_repo(tmp_path / "light")


@pytest.mark.parametrize(
    "verb",
    [
        ["status"], ["status", "dev", "--watch"], ["sync", "dev", "--yes"], ["wait", "dev"],
        ["history", "dev"],
        ["rollback", "staging"], ["refresh"], ["diff", "dev", "--live"], ["logs", "dev"], ["down"],
        ["patch", "dev", "ConfigMap/settings", "-p", "{}"],
    ],
)  # fmt: skip
def test_without_an_engine_each_verb_says_how_to_start_one(light: Path, cli: Cli, verb: list[str]) -> None:
    result = cli("--repo", light, *verb)
    assert result.code == 2
    assert result.error_lines == [f"error: no engine is running for {light.resolve()}"]
    assert "hint: start it with `llmops up` (or `make up`)" in result.err
    assert "Traceback" not in result.err


def test_smoke_without_url_or_engine_says_where_a_url_comes_from(light: Path, cli: Cli) -> None:
    result = cli("--repo", light, "smoke", "dev")
    assert result.code == 2
    assert result.error_lines == [
        f"error: no endpoint URL known for environment 'dev' (no engine is running for {light.resolve()})"
    ]
    assert "start the engine (llmops up), pass --url, or set LLMOPS_ENDPOINT_DEV" in result.err


def test_an_unwritable_state_directory_is_one_line(
    light: Path, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() == 0:
        target = Path(
            "/proc/llmops-cannot-write"
        )  # root may write anywhere a mode allows; /proc refuses everyone
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "state"
    monkeypatch.setenv("LLMOPS_STATE_DIR", str(target))
    result = cli("--repo", light, "up", "--quiet")
    assert result.code == 2
    (line,) = result.error_lines
    assert line.startswith(f"error: the engine's state directory {target} is not writable")
    assert "hint: fix its permissions, or point LLMOPS_STATE_DIR" in result.err


def test_a_taken_port_is_one_line(light: Path, cli: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("--repo", light, "up", "--quiet", "--api-port", str(port))
    assert result.code == 2
    assert result.error_lines == [
        f"error: port {port} on 127.0.0.1 is in use, so the engine API cannot listen there"
    ]
    assert "hint: stop what listens there" in result.err


def test_engine_settings_in_llmops_yaml_are_validated(light: Path, cli: Cli) -> None:
    config = light / "llmops.yaml"
    config.write_text(
        config.read_text()
        + "engine:\n  repositories:\n    - url: https://x.invalid/r.git\n  max_replica: 2\n"
    )
    result = cli("--repo", light, "status")
    assert result.code == 2
    (line,) = result.error_lines
    assert (
        "engine.repositories.0: Value error, give exactly one of path (a local repository) or remote" in line
    )
    assert "engine.max_replica: unknown key (did you mean 'max_replicas'?)" in line
