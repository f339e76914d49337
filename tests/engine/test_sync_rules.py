"""When an Application syncs by itself, and how long retries wait: Argo CD's rules as a table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llmops.engine.sync import (
    AutoInputs,
    LastOperation,
    RetryPolicy,
    auto_sync_decision,
    parse_duration,
    sync_options,
)

SRC = {"path": "deploy/overlays/dev", "repo_url": "r", "target_revision": "main"}
BASE = AutoInputs(
    automated=True, self_heal=True, prune=True, allow_empty=False, sync_status="OutOfSync",
    comparison_error=False,
    operation_running=False, desired_revision="new", source=SRC, last=None, out_of_sync_prune_only=False,
    all_require_pruning=False, now=1000.0, self_heal_timeout_s=5.0,
)  # fmt: skip


def _last(revision: str, phase: str = "Succeeded", finished: float = 990.0) -> LastOperation:
    return LastOperation(revision=revision, source=SRC, phase=phase, message="boom", finished_at=finished)


@pytest.mark.parametrize(
    ("change", "action", "message"),
    [
        ({}, "sync", "a new revision"),
        ({"automated": False}, "none", "manual sync policy"),
        ({"sync_status": "Synced"}, "none", ""),
        ({"comparison_error": True}, "none", ""),
        ({"operation_running": True}, "none", ""),
        ({"last": _last("old")}, "sync", "a new revision"),
        ({"last": _last("new", "Failed")}, "none", "Failed last sync attempt to new: boom"),
        ({"last": _last("new"), "self_heal": False}, "none", "most recent sync already to new"),
        ({"last": _last("new", finished=990.0)}, "sync", "self-heal: reverting live drift"),
        ({"last": _last("new", finished=998.0)}, "wait", "self-heal in 3.0 s"),
        (
            {"out_of_sync_prune_only": True, "prune": False},
            "none",
            "need to prune extra resources only but automated prune is disabled",
        ),
        (
            {"all_require_pruning": True},
            "none",
            "Skipping sync attempt to new: auto-sync will wipe out all resources",
        ),
        ({"all_require_pruning": True, "allow_empty": True}, "sync", "a new revision"),
    ],
)
def test_auto_sync_decisions(change: dict[str, object], action: str, message: str) -> None:
    decision = auto_sync_decision(replace(BASE, **change))  # type: ignore[arg-type]
    assert (decision.action, decision.message) == (action, message)


def test_a_source_change_counts_as_a_new_attempt_for_the_same_revision() -> None:
    moved = replace(BASE, source={**SRC, "path": "elsewhere"}, last=_last("new", "Failed"))
    assert auto_sync_decision(moved).action == "sync"


def test_retry_backoff_follows_argo_cds_formula() -> None:
    spec = {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}
    policy = RetryPolicy.of(spec, automated=False)
    assert [policy.delay(n) for n in range(6)] == [10, 20, 40, 80, 160, 180]
    assert policy.allows(4) and not policy.allows(5)
    assert RetryPolicy.of({"limit": -1}, automated=False).allows(10_000)
    assert RetryPolicy.of(None, automated=True).limit == 5  # automated syncs retry 5 times by default
    assert RetryPolicy.of(None, automated=False).limit == 0
    assert [parse_duration(t, 5) for t in ("30", "1m30s", "500ms", "2h", "bogus", None)] == [
        30,
        90,
        0.5,
        7200,
        5,
        5,
    ]


def test_sync_options_read_as_argo_cd_writes_them() -> None:
    assert sync_options(["PruneLast=true", "CreateNamespace=true"]) == {
        "PruneLast": "true",
        "CreateNamespace": "true",
    }
