"""Desired against live, normalized as Argo CD normalizes (ignoreDifferences with a real jq)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from llmops.engine.compare import IgnoreRule, Normalizer, compare, desired_state, ignore_rules, tracking_id
from llmops.engine.jqworker import JqWorker
from llmops.engine.store import LiveObject, ResourceKey

pytest.importorskip("jq", reason="the jq package (serve extra) is needed for jqPathExpressions")


@pytest.fixture(scope="module")
def jq() -> Iterator[JqWorker]:
    worker = JqWorker()
    yield worker
    worker.close()


def _cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": dict(data)}


def _live(obj: dict[str, Any], app: str = "a", managed: dict[str, list[str]] | None = None) -> LiveObject:
    live = copy.deepcopy(obj)
    key = ResourceKey.of(live)
    meta = live["metadata"]
    meta.update(resourceVersion="7", uid="u", creationTimestamp="2026-01-01T00:00:00Z")
    meta.setdefault("annotations", {})["argocd.argoproj.io/tracking-id"] = tracking_id(app, key)
    live["status"] = {"written": "by the runtime"}
    return LiveObject(
        app=app, key=key, manifest=live, resource_version=7, revision="abc", managed=managed or {}
    )


def test_server_bookkeeping_status_and_tracking_are_not_differences(jq: JqWorker) -> None:
    desired = desired_state([_cm("settings", greeting="hello")], "ns")
    live = [_live(desired.resources[ResourceKey("", "ConfigMap", "ns", "settings")])]
    result = compare(desired, live, Normalizer([], jq))
    assert result.sync_status == "Synced"
    assert [r.status for r in result.resources] == ["Synced"]


def test_namespace_comes_from_the_destination_and_hooks_are_set_aside(jq: JqWorker) -> None:
    hook = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "h", "annotations": {"argocd.argoproj.io/hook": "PostSync"}},
    }
    skipped = {
        **_cm("skip"),
        "metadata": {"name": "skip", "annotations": {"argocd.argoproj.io/hook": "Skip"}},
    }
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    desired = desired_state([_cm("settings"), hook, skipped, ns], "llmops-dev")
    assert sorted(str(k) + "@" + k.namespace for k in desired.resources) == [
        "ConfigMap/settings@llmops-dev",
        "Namespace/x@",
    ]
    assert [h["metadata"]["name"] for h in desired.hooks] == ["h"]


def test_field_changes_missing_and_requires_pruning(jq: JqWorker) -> None:
    desired = desired_state([_cm("a", k="git"), _cm("b")], "ns")
    live = [
        _live(_cm("a", k="live") | {"metadata": {"name": "a", "namespace": "ns"}}),
        _live(_cm("gone") | {"metadata": {"name": "gone", "namespace": "ns"}}),
    ]
    result = {str(r.key): r for r in compare(desired, live, Normalizer([], jq)).resources}
    assert [(c.path, c.old, c.new) for c in result["ConfigMap/a"].changes] == [("data.k", "live", "git")]
    assert result["ConfigMap/b"].status == "OutOfSync" and result["ConfigMap/b"].live is None
    assert result["ConfigMap/gone"].requires_pruning and result["ConfigMap/gone"].status == "OutOfSync"


def test_ignore_extraneous_keeps_an_extra_resource_out_of_the_app_status(jq: JqWorker) -> None:
    extra = _cm("extra") | {
        "metadata": {
            "name": "extra",
            "namespace": "ns",
            "annotations": {"argocd.argoproj.io/compare-options": "IgnoreExtraneous"},
        }
    }
    result = compare(desired_state([], "ns"), [_live(extra)], Normalizer([], jq))
    assert result.resources[0].requires_pruning
    assert result.sync_status == "Synced"


def _app(ignore: list[dict[str, Any]]) -> dict[str, Any]:
    return {"spec": {"ignoreDifferences": ignore}}


def test_ignore_differences_json_pointers_jq_and_managers(jq: JqWorker) -> None:
    rules = ignore_rules(_app([
        {"group": "", "kind": "ConfigMap", "jsonPointers": ["/data/pointer"]},
        {"group": "", "kind": "ConfigMap", "name": "a", "jqPathExpressions": ['.data["by-jq"]']},
        {"group": "", "kind": "ConfigMap", "managedFieldsManagers": ["operator-x"]},
    ]))  # fmt: skip
    git = _cm("a", pointer="git", **{"by-jq": "git"}, owned="git", kept="git")
    live_obj = _cm("a", pointer="live", **{"by-jq": "live"}, owned="live", kept="git") | {
        "metadata": {"name": "a", "namespace": "ns"}
    }
    desired = desired_state([git], "ns")
    ok = compare(desired, [_live(live_obj, managed={"operator-x": ["/data/owned"]})], Normalizer(rules, jq))
    assert ok.sync_status == "Synced"
    other = compare(
        desired, [_live(live_obj, managed={"kubectl-patch": ["/data/owned"]})], Normalizer(rules, jq)
    )
    assert [(c.path, c.new) for c in other.resources[0].changes] == [("data.owned", "git")]


def test_rules_match_group_and_kind_globs_name_and_namespace() -> None:
    rule = IgnoreRule(group="*.kserve.io", kind="Inference*", name="x", namespace="ns")
    assert rule.matches(ResourceKey("serving.kserve.io", "InferenceService", "ns", "x"))
    assert not rule.matches(ResourceKey("serving.kserve.io", "InferenceService", "ns", "y"))
    assert not rule.matches(ResourceKey("apps", "InferenceService", "ns", "x"))


def test_a_runaway_jq_expression_is_stopped_and_reported(jq: JqWorker) -> None:
    from llmops.engine.compare import ComparisonError

    slow = JqWorker(timeout_s=0.5)
    try:
        rules = ignore_rules(_app([{"kind": "ConfigMap", "jqPathExpressions": ["def f: f; f"]}]))
        desired = desired_state([_cm("a")], "ns")
        with pytest.raises(ComparisonError, match=r"ran longer than 0\.5 s"):
            compare(desired, [], Normalizer(rules, slow))
        bad = ignore_rules(_app([{"kind": "ConfigMap", "jqPathExpressions": [".data[["]}]))
        with pytest.raises(ComparisonError, match="jq path expression failed"):
            compare(desired, [], Normalizer(bad, slow))
    finally:
        slow.close()


def test_a_field_added_by_hand_where_git_declares_none_is_no_drift_as_in_a_three_way_diff(
    jq: JqWorker,
) -> None:
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "m", "labels": {"team": "gitops"}},
        "spec": {"predictor": {"model": {"args": ["--max-num-seqs=64"]}}},
    }
    desired = desired_state([isvc], "ns")
    key = ResourceKey("serving.kserve.io", "InferenceService", "ns", "m")

    def status_after(change: dict[str, Any], pointers: list[str]) -> str:
        live = copy.deepcopy(desired.resources[key])
        for path, value in change.items():
            node = live
            *parents, last = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
        return compare(
            desired, [_live(live, managed={"kubectl-patch": pointers})], Normalizer([], jq)
        ).sync_status

    # A new label (Git declares other labels, not this one): kept, no drift.
    assert status_after(
        {"metadata.labels": {"team": "gitops", "hotfix": "1"}}, ["/metadata/labels/hotfix"]
    ) == ("Synced")
    # A new annotation where Git declares no annotations at all: no drift either.
    assert status_after({"metadata.annotations": {"note": "x"}}, ["/metadata/annotations/note"]) == "Synced"
    # A label Git declares, changed by hand: drift.
    assert status_after({"metadata.labels": {"team": "x"}}, ["/metadata/labels/team"]) == "OutOfSync"
    # An argument appended to a list Git declares (a merge patch replaces the list whole): drift.
    args = ["--max-num-seqs=64", "--max-num-seqs=16"]
    assert status_after({"spec.predictor.model.args": args}, ["/spec/predictor/model/args"]) == "OutOfSync"
    # The same added label without a record of who set it (not a hand patch): drift.
    assert status_after({"metadata.labels": {"team": "gitops", "hotfix": "1"}}, []) == "OutOfSync"
