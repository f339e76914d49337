"""The demo flow in a real browser: the reference repository served by the embedded engine with real vLLM
(CPU build, the demo model), walked through the dashboard only. Headless Chromium clicks what a person
clicks; each step leaves a screenshot.

One engine for the module and two vLLM starts (dev by itself, staging when the test syncs it); the patch
is an annotation and the rollback goes back to the same configuration, so neither starts another.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testing.browser import operation_result, screenshot, wait_contains
from testing.browser import wait_text as _wait_text
from testing.engine import EngineProcess, isolated_env, start_engine
from testing.repos import reference_repo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
for _module in ("vllm", "torch", "transformers"):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(
            f"{_module} is not installed: the dashboard's demo flow needs the serve extra",
            allow_module_level=True,
        )

START_MS = 420_000  # one vLLM start under load, with margin
DEV, STAGING, PRODUCTION = "llmops-dev", "llmops-staging", "llmops-production"
ISVC = "InferenceService/staging-qwen25-05b-instruct"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    home = tmp_path_factory.mktemp("dashboard-demo")
    with isolated_env(home):
        repo = reference_repo(home / "gitops")
        running = start_engine(repo, home / "engine")
        try:
            yield running
        finally:
            running.stop()


def _label(page: Any, card: str, which: str) -> str:
    return str(page.inner_text(f"#card-{card} .{which} .label"))


def _wait_label(page: Any, card: str, which: str, value: str, timeout_ms: float) -> None:
    _wait_text(page, f"#card-{card} .{which} .label", value, timeout_ms)


def test_the_demo_flow_in_the_browser(engine: EngineProcess, page: Any, shots: Path) -> None:
    # 1. Three applications, by environment: dev deploys itself, staging and production wait for a person.
    page.goto(engine.api + "/ui/")
    assert page.inner_text("#env-dev").startswith("dev")
    _wait_label(page, DEV, "health", "Healthy", START_MS)  # live: no reload while vLLM starts
    # the first sync ends once its PostSync smoke hook passed
    _wait_text(page, f"#card-{DEV} .operation .label", "Succeeded", 120_000)
    assert _label(page, DEV, "sync") == "Synced"
    assert "demo weights" in page.inner_text(f"#card-{DEV} .badges")
    assert "auto-sync" in page.inner_text(f"#card-{DEV} .badges")
    for app in (STAGING, PRODUCTION):
        assert (_label(page, app, "sync"), _label(page, app, "health")) == ("OutOfSync", "Missing")
        assert "manual" in page.inner_text(f"#card-{app} .badges")
    screenshot(page, shots, "1-applications")

    # 2. Sync staging: a confirmation with a reason, the result, then Synced and Healthy on the card.
    page.evaluate("window.__notReloaded = true")
    page.click(f"#card-{STAGING} [data-action=sync]")
    assert page.is_visible("#confirm-dialog")
    page.fill("#confirm-reason", "first staging deploy, from the dashboard")
    screenshot(page, shots, "2-sync-dialog")
    page.click("#confirm-ok")
    assert "Succeeded" in operation_result(page, START_MS)
    page.click("#confirm-cancel")
    _wait_label(page, STAGING, "health", "Healthy", 60_000)
    _wait_label(page, STAGING, "sync", "Synced", 60_000)
    assert page.evaluate("window.__notReloaded") is True
    assert "first staging deploy, from the dashboard" in page.inner_text(f"#card-{STAGING} .operation")
    screenshot(page, shots, "3-applications-synced")

    # 3. The application page: the tree down to the vLLM process; drift by hand shows in the diff.
    page.goto(f"{engine.api}/ui/apps/{STAGING}")
    tree = page.text_content("#tree-live") or ""
    for part in ("ServingRuntime", "InferenceService", "vLLM process", "staging-qwen25-05b-instruct-0"):
        assert part in tree
    assert "No difference" in page.inner_text("#diff-live")
    page.click("#vllm-log summary")  # vLLM's own log, tailed while open
    page.wait_for_function("() => document.querySelector('#vllm-log pre').dataset.loaded === 'true'")
    assert "==> llmops-staging/staging-qwen25-05b-instruct-0 <==" in page.inner_text("#vllm-log pre")
    page.click(f"[data-action=patch][data-ref='{ISVC}']")
    page.fill(
        "#patch-text", '{"metadata": {"annotations": {"openshift.io/display-name": "changed by hand"}}}'
    )
    page.click("#patch-ok")
    page.wait_for_selector("#patch-result.ok")
    page.keyboard.press("Escape")
    page.wait_for_selector("#diff-live .diff-table", timeout=60_000)
    row = page.inner_text("#diff-live .diff-table tbody")
    assert 'metadata.annotations["openshift.io/display-name"]' in row
    assert "changed by hand" in row and "Qwen2.5 0.5B Instruct (staging)" in row
    assert page.inner_text("#summary .sync .label") == "OutOfSync"
    screenshot(page, shots, "4-application-diff")

    # 4. History lists the sync; rolling back to it redeploys Git's configuration: Synced again.
    first = page.locator("#history-live tr[id^=history-]").last
    assert "first staging deploy" in first.inner_text()
    first.locator("[data-action=rollback]").click()
    page.fill("#confirm-reason", "undo the hand edit")
    page.click("#confirm-ok")
    assert "rollback" in operation_result(page, START_MS)
    page.click("#confirm-cancel")
    # the page learns of the finished operation from the event stream
    wait_contains(page, "#history-live tr[id^=history-]", "undo the hand edit", 60_000)
    newest = page.locator("#history-live tr[id^=history-]").first.inner_text()
    assert "rollback" in newest
    assert page.inner_text("#summary .sync .label") == "Synced"
    assert "No difference" in page.inner_text("#diff-live")
    screenshot(page, shots, "5-application-history")

    # 5. Dev syncs itself: rollback is refused with Argo CD's reason, shown on the page.
    page.goto(f"{engine.api}/ui/apps/{DEV}")
    assert "rollback cannot be initiated when auto-sync is enabled" in page.inner_text("#rollback-refusal")
    refused = page.locator("#history-live [data-action=rollback]").first
    assert refused.get_attribute("aria-disabled") == "true"
    refused.focus()  # still reachable by keyboard, so the reason can be asked for
    page.keyboard.press("Enter")
    page.wait_for_selector("#notice.error")
    assert "auto-sync is enabled" in page.inner_text("#notice")

    # 6. The playground: a streamed answer from staging's model, with TTFT, rate and the served name.
    page.goto(f"{engine.api}/ui/playground?env=staging")
    assert page.input_value("#chat-model") == "staging-qwen25-05b-instruct"
    page.fill("#chat-prompt", "Say hello.")
    page.fill("#chat-max", "24")
    page.click("#chat-send")
    finished = "() => !['…', '–'].includes(document.querySelector('#m-finish').textContent)"
    page.wait_for_function(finished, timeout=120_000)
    assert page.inner_text("#m-ttft").endswith(" ms")
    assert page.inner_text("#m-rate").endswith("tokens/s")
    assert page.inner_text("#m-model") == "staging-qwen25-05b-instruct"
    assert page.inner_text("#chat-log .assistant .text").strip()  # the demo model's random words
    screenshot(page, shots, "6-playground")

    # 7. llmops smoke from the playground: each check's result.
    page.click("#smoke-run")
    page.wait_for_selector("#smoke-result table", timeout=120_000)
    results = {
        row.get_attribute("data-check"): row.locator("td").nth(1).inner_text()
        for row in page.locator("#smoke-result tr[data-check]").all()
    }
    assert (
        results["reachable"] == "PASS" and results["model-listed"] == "PASS" and results["stream"] == "PASS"
    )
    screenshot(page, shots, "7-playground-smoke")
