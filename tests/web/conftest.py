"""Fixtures of the dashboard's tests: an engine on the light repository (no vLLM: seconds to start), a
headless Chromium, and a folder for the screenshots each browser test leaves as an artefact."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testing import browser
from testing.engine import EngineProcess, isolated_env, light_repo, start_engine


@pytest.fixture(scope="module")
def light_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("web-home")
    with isolated_env(home):
        yield home


@pytest.fixture(scope="module")
def light_engine(light_home: Path) -> Iterator[EngineProcess]:
    """``llmops up`` on a repository whose Applications deploy a ConfigMap, a Secret, a ServiceAccount and
    a PostSync hook: dev (automated, self-heal, prune) and staging (manual)."""
    repo = light_repo(light_home / "repo")
    engine = start_engine(repo, light_home / "engine")
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright BrowserContext with a fresh profile); skips where there is none."""
    why = browser.missing()
    if why:
        pytest.skip(why)
    with browser.launch() as context:
        yield context


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: the test session's temporary folder, or $LLMOPS_SCREENSHOTS when set."""
    chosen = os.environ.get("LLMOPS_SCREENSHOTS")
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        return Path(chosen)
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh tab; JavaScript errors on it fail the test."""
    tab = chromium.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        tab.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
