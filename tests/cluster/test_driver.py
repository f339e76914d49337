"""The cluster driver against a fake API server holding what Argo CD and KServe write."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kmock
import pytest
from testing import argocd, kube
from testing.argocd import APPLICATIONS, APPPROJECTS, ISVCS, NS, AppState

from llmops.cluster.driver import ClusterDriver, ClusterSettings, UnknownApplication
from llmops.commands.drivers import ClusterOptions, driver_for
from llmops.delivery.diff import compare
from llmops.errors import UsageError
from llmops.gitops.appstate import SyncRequest
from llmops.gitops.repo import Repository

WEDNESDAY = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # no window of the reference AppProject is open
FRIDAY_EVENING = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # production's weekend deny window is open
APP_PATH = f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/applications"


def _running_sync(revision: str) -> dict[str, Any]:
    return {
        "operation": {
            "sync": {"revision": revision, "syncStrategy": {"hook": {}}},
            "initiatedBy": {"username": "alice"},
            "info": [{"name": "Reason", "value": "weekly release"}],
        },
        "phase": "Running",
        "message": "waiting for healthy state of serving.kserve.io/InferenceService/prod-qwen25-05b-instruct",
        "startedAt": "2026-11-20T10:00:00Z",
    }


@pytest.fixture
def shas(our_repo: Path) -> list[str]:
    """Two commits: what was deployed first, and "Release 2: tune vLLM"."""
    return argocd.revisions(our_repo, 2)


@pytest.fixture
def deployed(cluster: kube.Running, our_repo: Path, shas: list[str]) -> kube.Running:
    """dev synced to release 2 (automated); staging OutOfSync on release 1; production syncing release 2."""
    running = _running_sync(shas[1])
    argocd.deployed(
        cluster.api, our_repo,
        {
            "dev": AppState(history=[(1, shas[0]), (2, shas[1])]),
            "staging": AppState(sync="OutOfSync", history=[(1, shas[0])], desired=shas[1]),
            "production": AppState(health="Progressing", history=[(1, shas[0])], desired=shas[1],
                                   operation=running, isvc_ready=False, exposed=False),
        },
    )  # fmt: skip
    app = cluster.api.get(APPLICATIONS, NS, "llmops-production")
    assert app is not None
    app["operation"] = running["operation"]  # Argo CD keeps the requested operation while it runs
    cluster.api.objects[APPLICATIONS, NS, "llmops-production"] = app
    return cluster


def _driver(repo: Path, when: datetime = WEDNESDAY) -> ClusterDriver:
    return ClusterDriver(Repository(repo), ClusterSettings(), clock=lambda: when)


def _patches(api: kube.FakeCluster, path: str) -> list[kmock.Request]:
    return [r for r in api.writes() if r.url.path == path]


# -- status -----------------------------------------------------------------------------------------


def test_status_shows_sync_health_revision_operation_and_the_model_endpoint(
    deployed: kube.Running, our_repo: Path, shas: list[str]
) -> None:
    dev, staging, production = _driver(our_repo).status()

    assert (dev.sync_status, dev.health_status, dev.auto_sync, dev.self_heal) == (
        "Synced",
        "Healthy",
        True,
        True,
    )
    assert dev.revision is not None and dev.revision.sha == shas[1]
    assert dev.revision.subject == "Release 2: tune vLLM"  # read from the local clone
    assert dev.endpoint == "https://dev-qwen25-05b-instruct-llmops-dev.apps.cluster.example.com"  # the Route
    (isvc,) = dev.extra["inference_services"]
    assert (isvc["ready"], isvc["ready_replicas"], isvc["min_replicas"], isvc["auth"]) == (True, 1, 1, True)

    assert (staging.sync_status, staging.auto_sync) == ("OutOfSync", False)
    assert staging.revision is not None and staging.revision.subject == "Deploy from our repository"
    assert staging.desired_revision is not None and staging.desired_revision.sha == shas[1]

    assert production.health_status == "Progressing"
    op = production.operation
    assert op is not None and (op.phase, op.initiator, op.reason) == ("Running", "alice", "weekly release")
    assert op.revision.sha == shas[1] and op.id == 2
    (prod_isvc,) = production.extra["inference_services"]
    assert not prod_isvc["ready"] and prod_isvc["message"] == "Deployment does not have minimum availability."
    assert (prod_isvc["ready_replicas"], prod_isvc["min_replicas"]) == (0, 2)
    # Not exposed: no Route, so the endpoint is the InferenceService's in-cluster URL.
    assert production.endpoint == "https://prod-qwen25-05b-instruct-predictor.llmops-prod.svc.cluster.local"


def test_status_of_one_environment_or_application(deployed: kube.Running, our_repo: Path) -> None:
    driver = _driver(our_repo)
    assert [s.name for s in driver.status("staging")] == ["llmops-staging"]
    assert [s.name for s in driver.status("llmops-dev")] == ["llmops-dev"]


def test_the_cluster_target_gives_the_cluster_driver(deployed: kube.Running, our_repo: Path) -> None:
    driver = driver_for("cluster", lambda: Repository(our_repo), ClusterOptions())
    assert driver.target == "cluster"
    assert [s.sync_status for s in driver.status()] == ["Synced", "OutOfSync", "Synced"]


def test_an_unknown_application_lists_the_ones_on_the_cluster(deployed: kube.Running, our_repo: Path) -> None:
    deployed.api.objects[APPLICATIONS, NS, "llmops-dev"].delete()
    with pytest.raises(UnknownApplication) as err:
        _driver(our_repo).status("dev")
    assert f"Application llmops-dev does not exist in namespace {NS}" in err.value.message
    assert (
        err.value.hint is not None
        and "Applications there: llmops-production, llmops-staging" in err.value.hint
    )
    missing = next(s for s in _driver(our_repo).status() if s.name == "llmops-dev")
    assert missing.health_status == "Missing" and "llmops bootstrap" in missing.notes[0]


# -- sync and rollback ------------------------------------------------------------------------------


def test_sync_writes_the_operation_as_argo_cds_api_server_does(
    deployed: kube.Running, our_repo: Path
) -> None:
    before = deployed.api.get(APPLICATIONS, NS, "llmops-staging")
    assert before is not None
    state = _driver(our_repo).sync(
        SyncRequest(app="llmops-staging", initiator="bob", reason="promote release 2")
    )

    (patch,) = _patches(deployed.api, f"{APP_PATH}/llmops-staging")
    assert patch.headers["Content-Type"] == "application/merge-patch+json"
    assert patch.data == {
        "metadata": {"resourceVersion": before["metadata"]["resourceVersion"]},
        "operation": {
            "initiatedBy": {"username": "admin"},  # who the cluster says we are (SelfSubjectReview)
            "info": [{"name": "llmops", "value": "sync"}, {"name": "Reason", "value": "promote release 2"}],
            "sync": {
                "revision": "main",
                "prune": False,
                "syncStrategy": {"hook": {}},
                "source": before["spec"]["source"],
                "syncOptions": before["spec"]["syncPolicy"]["syncOptions"],  # the Application's own
            },
            "retry": before["spec"]["syncPolicy"]["retry"],
        },
        "status": {"operationState": None},
    }
    assert (state.phase, state.initiator, state.reason) == ("Running", "admin", "promote release 2")
    # The branch is what Argo CD resolves; the local clone's branch of that name is not looked up.
    assert (state.revision.sha, state.revision.subject) == ("main", "")
    with pytest.raises(UsageError, match="another operation is already in progress on llmops-staging"):
        _driver(our_repo).sync(SyncRequest(app="llmops-staging", initiator="bob"))


def test_a_stale_read_is_retried_not_lost(deployed: kube.Running, our_repo: Path) -> None:
    """A concurrent change between read and write: the API server answers 409 and the driver reads again."""
    deployed.api.another_writer(APPLICATIONS, NS, "llmops-staging")
    _driver(our_repo).sync(SyncRequest(app="llmops-staging", initiator="bob"))
    first, second = _patches(deployed.api, f"{APP_PATH}/llmops-staging")
    assert first.data["metadata"]["resourceVersion"] != second.data["metadata"]["resourceVersion"]
    app = deployed.api.get(APPLICATIONS, NS, "llmops-staging")
    assert app is not None and app["operation"]["initiatedBy"] == {"username": "admin"}


def test_sync_is_refused_while_an_operation_runs(deployed: kube.Running, our_repo: Path) -> None:
    with pytest.raises(UsageError) as err:
        _driver(our_repo).sync(SyncRequest(app="llmops-production", initiator="bob"))
    assert err.value.message == "another operation is already in progress on llmops-production by alice"
    assert _patches(deployed.api, f"{APP_PATH}/llmops-production") == []


def test_a_sync_window_blocks_a_manual_sync(cluster: kube.Running, our_repo: Path, shas: list[str]) -> None:
    argocd.deployed(cluster.api, our_repo, {"production": AppState(history=[(1, shas[0])])})
    with pytest.raises(UsageError) as err:
        _driver(our_repo, FRIDAY_EVENING).sync(SyncRequest(app="llmops-production", initiator="bob"))
    assert "blocked by sync window (deny window 0 16 * * 5 for 64h (UTC))" in err.value.message
    _driver(our_repo, WEDNESDAY).sync(SyncRequest(app="llmops-production", initiator="bob"))
    assert len(_patches(cluster.api, f"{APP_PATH}/llmops-production")) == 1


def test_an_automated_application_cannot_sync_to_another_revision(
    deployed: kube.Running, our_repo: Path
) -> None:
    with pytest.raises(UsageError, match="auto-sync currently set to main"):
        _driver(our_repo).sync(SyncRequest(app="llmops-dev", initiator="bob", revision="v0.9"))


def test_rollback_is_refused_while_automated_sync_is_on(deployed: kube.Running, our_repo: Path) -> None:
    with pytest.raises(UsageError) as err:
        _driver(our_repo).rollback("llmops-dev", 1, initiator="bob", reason=None)
    assert "rollback cannot be initiated when auto-sync is enabled" in err.value.message
    assert err.value.hint is not None and "git revert" in err.value.hint


def test_rollback_syncs_the_history_entrys_revision_and_source(
    cluster: kube.Running, our_repo: Path, shas: list[str]
) -> None:
    argocd.deployed(cluster.api, our_repo, {"production": AppState(history=[(1, shas[0]), (2, shas[1])])})
    app = cluster.api.get(APPLICATIONS, NS, "llmops-production")
    assert app is not None
    state = _driver(our_repo).rollback("llmops-production", None, initiator="bob", reason="bad release")
    (patch,) = _patches(cluster.api, f"{APP_PATH}/llmops-production")
    operation = patch.data["operation"]
    assert operation["sync"] == {
        "revision": shas[0],  # no id: the deployment before the current one, as in Argo CD's UI
        "prune": False,
        "syncStrategy": {"apply": {}},
        "source": app["status"]["history"][0]["source"],
        "syncOptions": app["spec"]["syncPolicy"]["syncOptions"],
    }
    assert operation["info"] == [
        {"name": "llmops", "value": "rollback"},
        {"name": "Reason", "value": "bad release"},
    ]
    assert (state.kind, state.revision.sha, state.revision.subject) == (
        "rollback", shas[0], "Deploy from our repository",
    )  # fmt: skip


def test_rollback_to_an_unknown_id_lists_the_known_ones(deployed: kube.Running, our_repo: Path) -> None:
    with pytest.raises(UsageError) as err:
        _driver(our_repo).rollback("llmops-staging", 7, initiator="bob", reason=None)
    assert err.value.message == "application llmops-staging does not have deployment with id 7"
    assert err.value.hint == "history ids: 1 (llmops history llmops-staging)"


def test_history_lists_deployments_with_commit_subjects(
    deployed: kube.Running, our_repo: Path, shas: list[str]
) -> None:
    entries = _driver(our_repo).history("llmops-dev")
    assert [(e.id, e.revision.sha, e.revision.subject, e.automated) for e in entries] == [
        (1, shas[0], "Deploy from our repository", True),
        (2, shas[1], "Release 2: tune vLLM", True),
    ]
    assert entries[1].deployed_at == "2026-11-12T10:00:00Z"


def test_refresh_sets_argo_cds_refresh_annotation(deployed: kube.Running, our_repo: Path) -> None:
    _driver(our_repo).refresh("staging")
    (patch,) = _patches(deployed.api, f"{APP_PATH}/llmops-staging")
    assert patch.data == {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}


# -- freeze -----------------------------------------------------------------------------------------


def test_freeze_adds_a_deny_window_and_records_who_and_why(deployed: kube.Running, our_repo: Path) -> None:
    project_before = deployed.api.get(APPPROJECTS, NS, "llmops")
    assert project_before is not None
    driver = _driver(our_repo)
    driver.freeze("staging", initiator="bob", reason="incident 42")

    (patch,) = _patches(deployed.api, f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/appprojects/llmops")
    assert patch.headers["Content-Type"] == "application/json-patch+json"
    test, add_window, add_record = patch.data
    assert test == {"op": "test", "path": "/metadata/resourceVersion",
                    "value": project_before["metadata"]["resourceVersion"]}  # fmt: skip
    assert add_window["op"] == "add" and add_window["path"] == "/spec/syncWindows/-"
    window = add_window["value"]
    assert {k: window[k] for k in ("kind", "schedule", "duration", "applications", "manualSync")} == {
        "kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["llmops-staging"],
        "manualSync": False,
    }  # fmt: skip
    assert add_record["path"] == "/metadata/annotations"
    record = json.loads(add_record["value"]["llmops.io/freeze.staging"])
    assert (record["by"], record["reason"], record["window"]) == ("admin", "incident 42", window)

    with pytest.raises(UsageError) as err:
        driver.sync(SyncRequest(app="llmops-staging", initiator="bob"))
    assert "staging is frozen by admin since" in err.value.message and "incident 42" in err.value.message
    assert err.value.hint == "llmops unfreeze staging --target cluster (when the freeze is over)"
    (staging,) = driver.status("staging")
    assert staging.notes[0].startswith("frozen by admin since") and "incident 42" in staging.notes[0]


def test_unfreeze_removes_exactly_the_freeze_window(deployed: kube.Running, our_repo: Path) -> None:
    before = deployed.api.get(APPPROJECTS, NS, "llmops")
    assert before is not None
    driver = _driver(our_repo)
    driver.freeze("production", initiator="bob", reason="audit")
    driver.unfreeze("production", initiator="bob")
    after = deployed.api.get(APPPROJECTS, NS, "llmops")
    assert after is not None
    assert after["spec"]["syncWindows"] == before["spec"]["syncWindows"]  # the weekend window stays
    assert "llmops.io/freeze.production" not in (after["metadata"].get("annotations") or {})
    with pytest.raises(UsageError, match="production is not frozen by llmops"):
        driver.unfreeze("production", initiator="bob")


def test_a_second_freeze_keeps_the_first_reason(deployed: kube.Running, our_repo: Path) -> None:
    driver = _driver(our_repo)
    driver.freeze("dev", initiator="bob", reason="first")
    with pytest.raises(UsageError, match="dev is already frozen by admin"):
        driver.freeze("dev", initiator="bob", reason="second")


# -- diff --live ------------------------------------------------------------------------------------


def _isvc(api: kube.FakeCluster, ns: str, name: str) -> dict[str, Any]:
    obj = api.get(ISVCS, ns, name)
    assert obj is not None
    return obj


def _put(api: kube.FakeCluster, resource: str, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    api.objects[resource, meta.get("namespace"), meta["name"]] = obj


def test_live_diff_is_empty_when_the_cluster_matches_git(deployed: kube.Running, our_repo: Path) -> None:
    live = _driver(our_repo).live_objects("llmops-dev")
    assert live.revision is not None and live.revision.subject == "Release 2: tune vLLM"
    rendered = argocd.render(our_repo, argocd.OVERLAYS["dev"])
    hooks = [
        o["kind"] for o in rendered if "argocd.argoproj.io/hook" in (o["metadata"].get("annotations") or {})
    ]
    assert hooks == ["Job"]  # the PostSync smoke test...
    assert sorted(o["kind"] for o in live.desired) == sorted(
        o["kind"] for o in rendered if o["kind"] != "Job"
    )
    assert "Job" not in {o["kind"] for o in live.live}  # ...is not compared, as in Argo CD
    # Defaulted fields (protocolVersion, the ServiceAccount's secrets), the finalizer, the tracking
    # annotation and managedFields are not differences.
    assert compare(live.desired, live.live) == []


def test_live_diff_shows_drift_made_by_hand(deployed: kube.Running, our_repo: Path) -> None:
    isvc = _isvc(deployed.api, "llmops-dev", "dev-qwen25-05b-instruct")
    isvc["spec"]["predictor"]["model"]["resources"]["limits"]["cpu"] = "10"  # oc patch ... limits.cpu=10
    isvc["metadata"]["labels"]["team"] = "ml"  # a field nobody applied: Argo CD ignores it too
    _put(deployed.api, ISVCS, isvc)
    live = _driver(our_repo).live_objects("llmops-dev")
    (change,) = compare(live.desired, live.live)
    assert (change.kind, change.action) == ("InferenceService", "changed")
    assert [(f.path, f.old, f.new) for f in change.fields] == [
        ("spec.predictor.model.resources.limits.cpu", "2", "10")
    ]


def test_a_field_argo_cd_applied_that_git_dropped_shows_as_removed(
    deployed: kube.Running, our_repo: Path
) -> None:
    isvc = _isvc(deployed.api, "llmops-dev", "dev-qwen25-05b-instruct")
    isvc["spec"]["predictor"]["timeout"] = 600
    isvc["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:predictor"]["f:timeout"] = {}
    _put(deployed.api, ISVCS, isvc)
    live = _driver(our_repo).live_objects("llmops-dev")
    (change,) = compare(live.desired, live.live)
    assert [(f.path, f.new) for f in change.fields] == [("spec.predictor.timeout", 600)]


def test_ignore_differences_of_the_application_apply(deployed: kube.Running, our_repo: Path) -> None:
    isvc = _isvc(deployed.api, "llmops-dev", "dev-qwen25-05b-instruct")
    isvc["spec"]["predictor"]["minReplicas"] = 3  # an autoscaler's doing, say
    _put(deployed.api, ISVCS, isvc)
    assert compare(*_sides(our_repo, "llmops-dev")) != []
    app = deployed.api.get(APPLICATIONS, NS, "llmops-dev")
    assert app is not None
    rules = copy.deepcopy(app["spec"]["ignoreDifferences"])
    rules[0]["jqPathExpressions"].append(".spec.predictor.minReplicas")
    app["spec"]["ignoreDifferences"] = rules
    _put(deployed.api, APPLICATIONS, app)
    assert compare(*_sides(our_repo, "llmops-dev")) == []


def _sides(repo: Path, app: str) -> tuple[Any, Any]:
    live = _driver(repo).live_objects(app)
    return live.desired, live.live


def test_a_deployed_revision_missing_from_the_clone_says_to_fetch(
    cluster: kube.Running, our_repo: Path
) -> None:
    argocd.deployed(cluster.api, our_repo, {"dev": AppState(history=[(1, "0" * 40)])})
    with pytest.raises(UsageError) as err:
        _driver(our_repo).live_objects("llmops-dev")
    assert "the deployed revision 000000000000 of llmops-dev is not in this clone" in err.value.message
    assert err.value.hint is not None and err.value.hint.startswith("git fetch")


def test_status_without_the_right_to_read_inference_services(deployed: kube.Running, our_repo: Path) -> None:
    deployed.api.access.tokens = {"sha256~fake-token": "viewer"}
    deployed.api.access.denied = {("viewer", "get", "inferenceservices", "*")}
    (dev,) = _driver(our_repo).status("dev")
    assert dev.sync_status == "Synced" and dev.extra["inference_services"] == [] and dev.endpoint is None
