"""The dashboard over plain HTTP against a real engine (light repository): what the pages say, what the
guard refuses, the event stream, and that no Secret value reaches a page."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from testing.engine import EngineProcess, light_repo, start_engine, wait_for

DEV, STAGING = "light-dev", "light-staging"


@pytest.fixture(scope="module")
def engine(light_engine: EngineProcess) -> EngineProcess:
    light_engine.wait_status(DEV, "first sync", lambda s: s["health_status"] == "Healthy", 60)
    return light_engine


def _session(engine: EngineProcess) -> tuple[httpx.Client, str]:
    """A browser-like client: it loaded a page, so it holds the session cookie and the page's CSRF token."""
    client = httpx.Client(base_url=engine.api, timeout=30)
    page = client.get("/ui/")
    token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
    assert token is not None
    return client, token.group(1)


def test_applications_page_shows_each_app_with_status_words(engine: EngineProcess) -> None:
    page = httpx.get(engine.api + "/ui/", timeout=30)
    assert page.status_code == 200
    html = page.text
    start = html.index('id="card-light-dev"')
    dev = html[start : html.index("</article>", start)]
    assert ">Healthy<" in dev and ">Synced<" in dev and "auto-sync + self-heal + prune" in dev
    staging = html[html.index('id="card-light-staging"') :]
    assert ">Missing<" in staging and ">OutOfSync<" in staging and ">manual<" in staging
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert not re.search(r'(src|href)="https?://', html)  # nothing from the network


def test_static_files_are_served_and_root_redirects(engine: EngineProcess) -> None:
    assert httpx.get(engine.api + "/ui/static/dashboard.js", timeout=10).status_code == 200
    css = httpx.get(engine.api + "/ui/static/dashboard.css", timeout=10)
    assert "text/css" in css.headers["content-type"]
    root = httpx.get(engine.api + "/", timeout=10)
    assert root.status_code == 307 and root.headers["location"] == "/ui/"


def test_unknown_application_is_a_404_page_listing_the_known_ones(engine: EngineProcess) -> None:
    page = httpx.get(engine.api + "/ui/apps/nope", timeout=10)
    assert page.status_code == 404 and "light-staging" in page.text


def test_a_page_from_another_host_name_is_refused(engine: EngineProcess) -> None:
    """DNS rebinding: evil.example resolving to 127.0.0.1 reaches the socket, but not the engine."""
    refused = httpx.get(engine.api + "/ui/", headers={"Host": "evil.example"}, timeout=10)
    assert refused.status_code == 421
    api = httpx.get(engine.api + "/api/v1/applications", headers={"Host": "evil.example:80"}, timeout=10)
    assert api.status_code == 421
    assert httpx.get(engine.api.replace("127.0.0.1", "localhost") + "/ui/", timeout=10).status_code == 200


def test_browser_posts_need_the_csrf_token_the_cli_does_not(engine: EngineProcess) -> None:
    client, token = _session(engine)
    url = f"/api/v1/applications/{DEV}/sync"
    origin = {"Origin": engine.api, "Sec-Fetch-Site": "same-origin"}
    without = client.post(url, json={}, headers=origin)
    assert without.status_code == 403 and "CSRF" in without.json()["error"]["message"]
    wrong = client.post(url, json={}, headers={**origin, "X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    cross = client.post(url, json={}, headers={"Origin": "http://evil.example", "X-CSRF-Token": token})
    assert cross.status_code == 403 and "cross-site" in cross.json()["error"]["message"]
    form = client.post(url, data={"a": "b"}, headers={**origin, "X-CSRF-Token": token})
    assert form.status_code == 415
    ok = client.post(url, json={"reason": "from the dashboard"}, headers={**origin, "X-CSRF-Token": token})
    assert ok.status_code == 200, ok.text
    assert ok.json()["reason"] == "from the dashboard"
    engine.wait_status(DEV, "the sync finished", lambda s: s["operation"]["phase"] != "Running", 60)
    # the CLI's client (no Origin, no cookie) is not a browser: the same-origin rules do not apply to it
    cli = httpx.post(engine.api + "/api/v1/refresh", json={"selector": DEV}, timeout=30)
    assert cli.status_code == 200


def test_no_secret_value_reaches_a_page(engine: EngineProcess) -> None:
    synced = engine.post(f"/applications/{STAGING}/sync", {"reason": "for the secret check"})
    assert synced.status_code == 200, synced.text
    engine.wait_status(STAGING, "Synced", lambda s: s["sync_status"] == "Synced", 60)
    patch = json.dumps({"stringData": {"password": "s3cret-by-hand"}})
    body = {"ref": "Secret/credentials", "patch": patch}
    assert engine.post(f"/applications/{STAGING}/patch", body).is_success
    engine.wait_status(STAGING, "OutOfSync", lambda s: s["sync_status"] == "OutOfSync", 60)
    client, _ = _session(engine)
    seen = client.get(f"/ui/apps/{STAGING}").text
    seen += client.get(f"/ui/apps/{STAGING}/objects/Secret/credentials").text
    assert "Secret/credentials" in seen and "&lt;redacted" in seen
    assert "s3cret" not in seen


def _read_events(url: str, found: list[dict[str, Any]], stop: threading.Event) -> None:
    with httpx.stream("GET", url, timeout=30) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                found.append(json.loads(line[5:]))
            if stop.is_set():
                return


def test_the_event_stream_tells_a_page_what_changed(engine: EngineProcess) -> None:
    found: list[dict[str, Any]] = []
    stop = threading.Event()
    reader = threading.Thread(
        target=_read_events, args=(f"{engine.api}/ui/stream?app_name={STAGING}", found, stop), daemon=True
    )
    reader.start()
    tries = iter(range(1000))

    def patched() -> bool:
        # the stream may connect after the first patch: patch again (a new value) until an event arrives
        patch = json.dumps({"data": {"greeting": f"streamed {next(tries)}"}})
        engine.post(f"/applications/{STAGING}/patch", {"ref": "ConfigMap/settings", "patch": patch})
        return any(e["reason"] == "ResourcePatched" and e["app"] == STAGING for e in found)

    try:
        wait_for(patched, 30, "a ResourcePatched event on the stream", interval=1.0)
    finally:
        stop.set()
    assert all(e["app"] in (STAGING, "") for e in found)  # only this app's (and the engine's own) events


def test_bound_beyond_loopback_the_dashboard_asks_for_the_token_once(
    light_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = light_repo(light_home / "exposed")
    monkeypatch.setenv("LLMOPS_STATE_DIR", str(light_home / "exposed-state"))
    exposed = start_engine(repo, light_home / "exposed-engine", extra=["--api-host", "0.0.0.0"], wait=False)
    try:
        url = wait_for(lambda: _answering(exposed), 120, "the exposed engine's API")
        client = httpx.Client(base_url=url, timeout=30)
        first = client.get("/ui/")
        assert first.status_code == 303 and first.headers["location"] == "/ui/login"
        assert client.get("/api/v1/applications").status_code == 401
        login = client.get("/ui/login")
        assert login.status_code == 200 and "llmops_session" not in login.headers.get("set-cookie", "")
        same = {"Origin": url}
        bad = client.post("/ui/login", data={"token": "guess"}, headers=same)
        assert bad.status_code == 401 and "not this engine" in bad.text
        token = (light_home / "exposed-state" / "token").read_text().strip()
        good = client.post("/ui/login", data={"token": token}, headers=same)
        assert good.status_code == 303 and "llmops_session" in client.cookies
        assert client.get("/ui/").status_code == 200  # kept in the session from now on
        assert client.get("/api/v1/applications").status_code == 200
    finally:
        exposed.stop()


def _answering(engine: EngineProcess) -> str | None:
    try:
        url = str(engine.info()["api_url"]).replace("0.0.0.0", "127.0.0.1")
        httpx.get(url + "/ui/login", timeout=2).raise_for_status()
    except (OSError, ValueError, KeyError, httpx.HTTPError):
        return None
    return url
