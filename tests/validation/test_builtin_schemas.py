"""The schema catalog shipped with llmops: made from the real CRDs, used with no catalog in the repository."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmops.validation import builtin_schemas
from llmops.validation.catalog import BUILTIN_DIR, SchemaSet, clear_cache


def _runtime(**top: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {"name": "vllm"},
        "spec": {"containers": [{"name": "kserve-container", "image": "quay.io/x/vllm:1"}]},
        **top,
    }


def test_builtin_catalog_equals_a_fresh_import_of_the_real_crds(tmp_path: Path, shared_dir: Path) -> None:
    crds = shared_dir / "crds"
    if not (crds / "SOURCES.md").is_file():
        pytest.skip(f"{crds} has no SOURCES.md: the real CRDs and their sources are needed")
    builtin_schemas.import_folder(crds, tmp_path / "fresh")
    fresh = {p.name: p.read_bytes() for p in (tmp_path / "fresh").iterdir()}
    shipped = {p.name: p.read_bytes() for p in BUILTIN_DIR.iterdir()}
    assert sorted(fresh) == sorted(shipped), "run scripts/import_builtin_schemas.py"
    stale = sorted(name for name in fresh if fresh[name] != shipped[name])
    assert stale == [], "run scripts/import_builtin_schemas.py"


def test_every_builtin_schema_records_where_it_comes_from() -> None:
    sources = builtin_schemas.provenance()
    kinds = set(SchemaSet(None).crd_kinds)
    assert kinds == set(sources)
    for wanted in [
        ("serving.kserve.io/v1beta1", "InferenceService"),
        ("serving.kserve.io/v1alpha1", "ServingRuntime"),
        ("serving.kserve.io/v1alpha1", "ClusterServingRuntime"),
        ("serving.kserve.io/v1alpha1", "InferenceGraph"),
        ("argoproj.io/v1alpha1", "Application"),
        ("argoproj.io/v1alpha1", "ApplicationSet"),
        ("argoproj.io/v1alpha1", "AppProject"),
        ("argoproj.io/v1beta1", "ArgoCD"),
        ("tekton.dev/v1", "PipelineRun"),
        ("triggers.tekton.dev/v1beta1", "EventListener"),
        ("pipelinesascode.tekton.dev/v1alpha1", "Repository"),
        ("route.openshift.io/v1", "Route"),
    ]:
        assert wanted in kinds, wanted
    isvc = sources[("serving.kserve.io/v1beta1", "InferenceService")]
    assert (isvc.repository, isvc.crd) == ("kserve/kserve", "kserve/serving.kserve.io_inferenceservices.yaml")
    assert len(isvc.commit) == 40 and len(isvc.sha256) == 64


def test_strict_checks_need_no_catalog_in_the_repository(tmp_path: Path) -> None:
    schema_set = SchemaSet(tmp_path / "no-such-catalog")
    assert schema_set.violations(_runtime()) == []
    found = schema_set.violations(_runtime(labels={"opendatahub.io/dashboard": "true"}))
    assert found is not None and [(v.dotted, v.unknown_field) for v in found] == [("labels", "labels")]


def test_a_repository_catalog_overrides_the_builtin_schema_of_one_kind(tmp_path: Path) -> None:
    own = tmp_path / "schemas"
    own.mkdir()
    loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    (own / "serving.kserve.io_v1alpha1_ServingRuntime.json").write_text(
        json.dumps({"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime", "schema": loose}),
        encoding="utf-8",
    )
    schema_set = SchemaSet(own)
    assert schema_set.violations(_runtime(labels={"a": "b"})) == []  # the repository's schema wins
    origins = {(o.api_version, o.kind): o for o in schema_set.origins}
    runtime = origins[("serving.kserve.io/v1alpha1", "ServingRuntime")]
    assert (runtime.origin, runtime.overrides_builtin) == ("repository", True)
    assert origins[("serving.kserve.io/v1beta1", "InferenceService")].origin == "built-in"
    bad = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "m"}}
    bad["spec"] = {"predictor": {"model": {"argz": []}}}
    found = schema_set.violations(bad)
    assert found is not None and [v.dotted for v in found] == ["spec.predictor.model.argz"]


def test_strict_forms_of_builtin_schemas_are_cached_in_the_user_cache(tmp_path: Path) -> None:
    clear_cache()
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "llmops" / "strict-schemas"
    before = set(cache.glob("*.json")) if cache.is_dir() else set()
    SchemaSet(None).violations(_runtime())
    made = set(cache.glob("*.json")) - before
    assert len(made) == 1
    # A second process (a new schema set) reads the cached form instead of converting again.
    cached = next(iter(made))
    cached.write_text(json.dumps({"type": "object", "properties": {}, "additionalProperties": False}))
    found = SchemaSet(None).violations(_runtime())
    assert found is not None and {v.dotted for v in found} >= {"spec", "metadata"}


def test_schemas_list_shows_where_each_schema_comes_from(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    table = cli("schemas", "list", "--repo", gitops_repo)
    assert table.code == 0, table.err
    assert "InferenceService" in table.out and "kserve/kserve" in table.out and "built-in" in table.out
    as_yaml = cli("schemas", "list", "--repo", gitops_repo, "-o", "yaml")
    assert "origin: built-in" in as_yaml.out and "kind: ServingRuntime" in as_yaml.out
    assert "25 built-in, 0 from" in as_yaml.err
