"""The CLI's side of the engine: :class:`EngineDriver`, the ``gitops.appstate.Driver`` of
``--target local``, talking to a running engine's HTTP API.

The engine is found from the repository's state directory (``engine.json``: its pid and API
address; ``token``: the API token). With no engine running the error is one line saying how to
start one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from llmops.errors import EndpointError, EngineError, LlmopsError, UsageError
from llmops.gitops.appstate import (
    AppStatus,
    HistoryEntry,
    LiveObjects,
    OperationState,
    SyncRequest,
    Target,
    app_status_from_dict,
    history_from_dict,
    live_objects_from_dict,
    operation_from_dict,
)
from llmops.gitops.repo import Repository
from llmops.support.http import HttpClient, Response

from .paths import read_info, read_token, state_dir_for

START_HINT = "start it with `llmops up` (or `make up`) here; `llmops up --detach` keeps it in the background"


class EngineNotRunning(EngineError):
    """No engine answers for this repository."""


class _Refused(UsageError):
    """The engine refused the request (its message and hint are the engine's)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EngineDriver:
    """A running engine, through its API (``/api/v1``)."""

    target: Target = "local"

    def __init__(self, url: str, token: str | None, *, timeout_s: float = 30.0) -> None:
        self.url = url
        self._http = HttpClient(
            url, token=token, timeout_s=timeout_s, headers={"Content-Type": "application/json"}
        )

    # -- plumbing -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        try:
            response = self._http.request(method, "/api/v1" + path, json=body, params=params)
        except EndpointError as exc:
            raise EngineNotRunning(
                f"the engine at {self.url} does not answer: {exc.message}", hint=START_HINT
            ) from exc
        return self._decode(response)

    def _decode(self, response: Response) -> Any:
        if response.status < 400:
            return response.json()
        try:
            err = response.json().get("error") or {}
        except (LlmopsError, AttributeError):
            err = {}
        message = err.get("message") or f"the engine answered {response.status} {response.reason}"
        hint = err.get("hint")
        if err.get("type") in ("EngineError", "OperationRefused", "StateDirError") or response.status == 409:
            raise EngineError(message, hint=hint)
        raise _Refused(message, hint=hint)

    def close(self) -> None:
        self._http.close()

    # -- the Driver protocol --------------------------------------------------------------------

    def status(self, selector: str | None = None) -> list[AppStatus]:
        params = {"selector": selector} if selector else None
        return [app_status_from_dict(s) for s in self._call("GET", "/applications", params=params)["items"]]

    def sync(self, request: SyncRequest) -> OperationState:
        body = {
            "initiator": request.initiator,
            "reason": request.reason,
            "revision": request.revision,
            "prune": request.prune,
        }
        return operation_from_dict(self._call("POST", f"/applications/{request.app}/sync", body))

    def rollback(
        self, app: str, history_id: int | None, *, initiator: str, reason: str | None
    ) -> OperationState:
        body = {"id": history_id, "initiator": initiator, "reason": reason}
        return operation_from_dict(self._call("POST", f"/applications/{app}/rollback", body))

    def history(self, app: str) -> list[HistoryEntry]:
        return [history_from_dict(h) for h in self._call("GET", f"/applications/{app}/history")["items"]]

    def live_objects(self, app: str) -> LiveObjects:
        return live_objects_from_dict(self._call("GET", f"/applications/{app}/live"))

    def refresh(self, selector: str | None = None) -> None:
        self._call("POST", "/refresh", {"selector": selector, "hard": True})

    def freeze(self, environment: str, *, initiator: str, reason: str) -> None:
        raise UsageError(
            "freeze is not supported by the local engine yet",
            hint="use --target cluster for Argo CD on a cluster",
        )

    def unfreeze(self, environment: str, *, initiator: str, reason: str | None = None) -> None:
        raise UsageError(
            "unfreeze is not supported by the local engine yet",
            hint="use --target cluster for Argo CD on a cluster",
        )

    # -- the engine's own verbs -----------------------------------------------------------------

    def operation(self, op_id: int) -> OperationState:
        return operation_from_dict(self._call("GET", f"/operations/{op_id}"))

    def patch(
        self, selector: str, ref: str, patch_type: str, patch: str, field_manager: str
    ) -> dict[str, Any]:
        body = {"ref": ref, "type": patch_type, "patch": patch, "field_manager": field_manager}
        result: dict[str, Any] = self._call("POST", f"/applications/{selector}/patch", body)
        return result

    def logs(self, selector: str, tail: int) -> str:
        try:
            response = self._http.request(
                "GET", "/api/v1/logs", params={"selector": selector, "tail": str(tail)}
            )
        except EndpointError as exc:
            raise EngineNotRunning(
                f"the engine at {self.url} does not answer: {exc.message}", hint=START_HINT
            ) from exc
        if response.status >= 400:
            self._decode(response)
        return response.text

    def follow_logs(self, selector: str, tail: int) -> Iterator[str]:
        query = urlencode({"selector": selector, "tail": tail, "follow": "true"})
        with self._http.stream("GET", f"/api/v1/logs?{query}") as stream:
            if stream.status >= 400:
                self._decode(stream.read())
            yield from stream.iter_text()

    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/engine")
        return result

    def events(self, app: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        params = {"since": str(since)} | ({"app": app} if app else {})
        items: list[dict[str, Any]] = self._call("GET", "/events", params=params)["items"]
        return items

    def shutdown(self, keep_processes: bool) -> None:
        self._call("POST", "/shutdown", {"keep_processes": keep_processes})


def connect(repo: Repository) -> EngineDriver:
    """The engine running for ``repo``; :class:`EngineNotRunning` when there is none."""
    paths = state_dir_for(repo.root, repo.config.engine)
    info = read_info(paths)
    if info is None or not _pid_alive(info.pid):
        raise EngineNotRunning(f"no engine is running for {repo.root}", hint=START_HINT)
    driver = EngineDriver(info.api_url, read_token(paths))
    driver.info()  # answers, or EngineNotRunning
    return driver
