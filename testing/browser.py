"""A real headless browser for the dashboard's tests: Debian's ``chromium`` driven by Playwright's Python
package (Playwright's own browser download is never used).

:func:`missing` says why the browser tests cannot run here (or None); :func:`launch` starts Chromium
headless with a fresh profile and no network chatter of its own, and stops it afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
)


def chromium_path() -> str | None:
    explicit = os.environ.get("LLMOPS_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for path in CHROMIUM_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


def missing() -> str | None:
    """Why the browser tests must skip here, or None when they can run."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright's Python package is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return (
            "Chromium is not installed (Debian: apt-get install chromium; `make test` does it as root); "
            "LLMOPS_CHROMIUM may name another binary"
        )
    return None


@contextmanager
def launch() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``) with a fresh profile in a temporary folder."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    assert path is not None, missing()
    with tempfile.TemporaryDirectory(prefix="llmops-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=path,
            headless=True,
            args=list(ARGS),
            viewport={"width": 1280, "height": 800},
        )
        try:
            yield context
        finally:
            context.close()


def screenshot(page: Any, folder: Path, name: str) -> Path:
    """The whole page as PNG under ``folder`` (a test artefact)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_text(page: Any, selector: str, text: str, timeout_ms: float) -> None:
    """Wait until the element's text is ``text`` (a function, not a string expression: the dashboard's
    Content-Security-Policy forbids the eval Playwright would need for one)."""
    page.wait_for_function(
        "([sel, text]) => document.querySelector(sel)?.textContent === text",
        arg=[selector, text],
        timeout=timeout_ms,
    )


def wait_contains(page: Any, selector: str, text: str, timeout_ms: float) -> None:
    """Wait until the element's text contains ``text``."""
    page.wait_for_function(
        "([sel, text]) => (document.querySelector(sel)?.textContent || '').includes(text)",
        arg=[selector, text],
        timeout=timeout_ms,
    )


def operation_result(page: Any, timeout_ms: float) -> str:
    """The dialog's result once the operation it started has finished; fails with the text if it failed."""
    page.wait_for_selector("#confirm-result.ok, #confirm-result.error", timeout=timeout_ms)
    text = str(page.inner_text("#confirm-result"))
    assert "ok" in (page.get_attribute("#confirm-result", "class") or ""), text
    return text
