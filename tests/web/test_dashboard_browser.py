"""The dashboard in a real headless Chromium against a real engine on the light repository (no vLLM):
cross-site refusals, keyboard use, narrow windows, live updates without a reload, the playground's
answer when no model runs. The whole demo flow with vLLM is test_dashboard_demo.py."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testing.browser import operation_result, screenshot
from testing.browser import wait_text as _wait_text
from testing.engine import EngineProcess

pytestmark = [pytest.mark.slow]
DEV, STAGING = "light-dev", "light-staging"


@pytest.fixture(scope="module")
def engine(light_engine: EngineProcess) -> EngineProcess:
    light_engine.wait_status(DEV, "first sync", lambda s: s["health_status"] == "Healthy", 60)
    return light_engine


def _operations(engine: EngineProcess, app: str) -> int:
    return len(engine.get(f"/applications/{app}/history")["items"])


def test_a_post_without_the_csrf_token_is_refused(engine: EngineProcess, page: Any) -> None:
    page.goto(engine.api + "/ui/")
    before = _operations(engine, STAGING)
    answer = page.evaluate(
        """async (url) => {
            const headers = {"Content-Type": "application/json"};
            const r = await fetch(url, {method: "POST", headers, body: "{}"});
            return [r.status, (await r.json()).error.message];
        }""",
        f"/api/v1/applications/{STAGING}/sync",
    )
    assert answer == [403, "this request lacks the dashboard's CSRF token"]
    assert _operations(engine, STAGING) == before


@pytest.fixture
def other_origin(tmp_path: Path) -> Iterator[str]:
    """A page on another origin (another port) that tries to make the engine sync."""
    (tmp_path / "index.html").write_text("<!doctype html><title>elsewhere</title><p>another site</p>")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


def test_another_site_cannot_make_the_engine_sync(
    engine: EngineProcess, page: Any, other_origin: str
) -> None:
    page.goto(other_origin)
    before = _operations(engine, STAGING)
    url = f"{engine.api}/api/v1/applications/{STAGING}/sync"
    # a plain form POST (the one cross-site request a browser sends without asking)
    page.evaluate(
        """(url) => { const f = document.createElement("form"); f.method = "POST"; f.action = url;
            const i = document.createElement("input"); i.name = "reason"; i.value = "x"; f.append(i);
            document.body.append(f); f.submit(); }""",
        url,
    )
    page.wait_for_load_state()
    refused = json.loads(page.inner_text("body"))
    assert "cross-site requests may not change" in refused["error"]["message"]
    assert _operations(engine, STAGING) == before


def test_keyboard_reaches_sync_and_the_dialog_confirms(engine: EngineProcess, page: Any, shots: Path) -> None:
    page.goto(engine.api + "/ui/")
    target = f"#card-{STAGING} [data-action=sync]"
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("(sel) => document.activeElement === document.querySelector(sel)", target):
            break
    else:
        pytest.fail("Tab never reached staging's Sync button")
    page.keyboard.press("Enter")
    assert page.is_visible("#confirm-dialog")
    assert page.evaluate("document.activeElement.id") == "confirm-reason"
    page.keyboard.type("keyboard only")
    page.keyboard.press("Enter")
    operation_result(page, 180_000)
    page.keyboard.press("Escape")
    _wait_text(page, f"#card-{STAGING} .sync .label", "Synced", 30_000)
    _wait_text(page, f"#card-{STAGING} .health .label", "Healthy", 30_000)
    screenshot(page, shots, "light-applications")


def test_a_change_elsewhere_shows_without_reloading(engine: EngineProcess, page: Any, shots: Path) -> None:
    page.goto(f"{engine.api}/ui/apps/{STAGING}")
    page.evaluate("window.__notReloaded = true")
    box = page.locator("#summary").bounding_box()
    patch = json.dumps({"data": {"greeting": "changed elsewhere"}})
    assert engine.post(
        f"/applications/{STAGING}/patch", {"ref": "ConfigMap/settings", "patch": patch}
    ).is_success
    page.wait_for_selector("#diff-live .diff-table", timeout=30_000)
    assert "changed elsewhere" in page.inner_text("#diff-live")
    assert page.inner_text("#summary .sync .label") == "OutOfSync"
    assert page.evaluate("window.__notReloaded") is True
    after = page.locator("#summary").bounding_box()
    assert (after["x"], after["y"], after["width"]) == (box["x"], box["y"], box["width"])  # nothing moved
    screenshot(page, shots, "light-application-diff")


@pytest.mark.parametrize("width", [1280, 400])
def test_pages_fit_the_window(engine: EngineProcess, page: Any, shots: Path, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    for name, path in (("applications", "/ui/"), ("application", f"/ui/apps/{STAGING}"),
                       ("playground", "/ui/playground")):  # fmt: skip
        page.goto(engine.api + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {width} px is {overflow} px too wide"
        screenshot(page, shots, f"light-{name}-{width}")


def test_playground_says_why_no_model_answers(engine: EngineProcess, page: Any) -> None:
    page.goto(engine.api + "/ui/playground?env=staging")
    page.evaluate(
        "() => { const s = document.querySelector('#chat-model');"
        " s.append(new Option('m', 'm')); s.value = 'm'; }"
    )
    page.click("#chat-send")
    page.wait_for_selector("#chat-log .msg.error")
    assert "answered 503" in page.inner_text("#chat-log .msg.error")


def test_hook_and_manifest_panels_load_on_demand(engine: EngineProcess, page: Any) -> None:
    engine.post(f"/applications/{STAGING}/sync", {"reason": "for the hook log"})
    engine.wait_status(STAGING, "synced", lambda s: (s["operation"] or {}).get("phase") == "Succeeded", 60)
    page.goto(f"{engine.api}/ui/apps/{STAGING}")
    hook = page.locator("#hooks-live details.log").first
    assert "PostSync Job/post-sync-check: Succeeded" in hook.inner_text()
    hook.locator("summary").click()
    page.wait_for_function(
        "(el) => el.querySelector('pre').dataset.loaded === 'true'", arg=hook.element_handle()
    )
    assert "llmops" in hook.locator("pre").inner_text()  # the hook ran `llmops --version`
    secret = page.locator("#node-Secret-credentials-manifest")
    secret.locator("summary").click()
    page.wait_for_function(
        "(el) => el.querySelector('pre').dataset.loaded === 'true'", arg=secret.element_handle()
    )
    shown = secret.locator("pre").inner_text()
    assert "kind: Secret" in shown and "<redacted>" in shown and "s3cret-in-git" not in shown
