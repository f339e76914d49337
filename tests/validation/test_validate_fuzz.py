"""Fuzzing the rule engine: random and malformed manifests never crash it (hypothesis)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmops.gitops import kustomize
from llmops.gitops.locate import SourceIndex
from llmops.gitops.repo import Repository
from llmops.validation.rules import REGISTRY
from llmops.validation.runner import _run_rule, run
from llmops.validation.types import Context, Item

KINDS = [
    "InferenceService",
    "ServingRuntime",
    "Secret",
    "AppProject",
    "Application",
    "Deployment",
    "Pod",
    "Pipeline",
    "Task",
    "ServiceAccount",
    "ClusterServingRuntime",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "Job",
    "CronJob",
    "TaskRun",
    "PipelineRun",
    "Widget",
    "",
]
API = [
    "serving.kserve.io/v1beta1",
    "serving.kserve.io/v1alpha1",
    "v1",
    "apps/v1",
    "argoproj.io/v1alpha1",
    "tekton.dev/v1",
    "rbac.authorization.k8s.io/v1",
    "batch/v1",
    "nope/v9",
    "",
]
KEYS = [
    "spec",
    "predictor",
    "model",
    "args",
    "containers",
    "resources",
    "limits",
    "requests",
    "nvidia.com/gpu",
    "image",
    "storageUri",
    "runtime",
    "modelFormat",
    "name",
    "ports",
    "containerPort",
    "volumes",
    "hostPath",
    "securityContext",
    "privileged",
    "stringData",
    "data",
    "metadata",
    "labels",
    "annotations",
    "sourceRepos",
    "destinations",
    "steps",
    "tasks",
    "taskSpec",
    "supportedModelFormats",
    "hostNetwork",
    "llmops.io/suppress",
    "networking.kserve.io/visibility",
    "namespace",
    # rbac and the newer security rules
    "rules",
    "verbs",
    "resources",
    "apiGroups",
    "nonResourceURLs",
    "subjects",
    "roleRef",
    "kind",
    "serviceAccountName",
    "automountServiceAccountToken",
    "readOnlyRootFilesystem",
    "runAsNonRoot",
    "allowPrivilegeEscalation",
    "env",
    "value",
    "volumeMounts",
    "mountPath",
    "command",
    "stepTemplate",
    "computeResources",
    "pipelineSpec",
    "template",
    "jobTemplate",
    "security.opendatahub.io/enable-auth",
]
ARGS = [
    "--max-model-len",
    "--max-model-len=99999999",
    "--port",
    "--port=abc",
    "--tensor-parallel-size=0",
    "--gpu-memory-utilization=nan",
    "--gpu-memory-utilization",
    "-O3",
    "--x",
    "8k",
    "-1",
    "{{.Name}}",
    "*",
    "secrets",
    "escalate",
    "system:authenticated",
    "cluster-admin",
    "vllm",
    "/tmp",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True),
    st.sampled_from(ARGS),
    st.text(max_size=12),
    st.sampled_from(KINDS),
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.sampled_from(KEYS), children, max_size=5)
    ),
    max_leaves=25,
)
manifests = st.fixed_dictionaries(
    {"apiVersion": st.sampled_from(API), "kind": st.sampled_from(KINDS)},
    optional={
        "metadata": trees,
        "spec": trees,
        "stringData": trees,
        "data": trees,
        "rules": trees,
        "subjects": trees,
        "roleRef": trees,
        "automountServiceAccountToken": trees,
    },
)


# The repository is only read (first test) or one file is fully rewritten (second test) per example,
# so sharing the function-scoped fixture across examples is safe.
SHARED_FIXTURE = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=300, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(
    docs=st.lists(st.one_of(manifests, st.dictionaries(st.sampled_from(KEYS), trees, max_size=4)), max_size=6)
)
@example(  # lists held as scalars once crashed the host-path and runtime-selection rules
    docs=[
        {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService"},
        {
            "apiVersion": "serving.kserve.io/v1alpha1",
            "kind": "ServingRuntime",
            "spec": {"volumes": True, "supportedModelFormats": 1, "containers": True},
        },
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "spec": {"destinations": True}},
    ]
)
@example(  # a kind that is not a string once reached a schema file lookup (OSError: file name too long)
    docs=[
        {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService"},
        {"kind": [1.5e16, "W%\U000ffb79d", {"spec": None, "runtime": 1e16}]},
        {"apiVersion": "v1", "kind": "K" * 5000},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "roleRef": "cluster-admin",
            "subjects": [{"kind": "Group", "name": ["system:authenticated"]}, "x"],
        },
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "rules": [{"verbs": "*"}, 3]},
        {"apiVersion": "tekton.dev/v1", "kind": "Task", "spec": {"stepTemplate": "x", "steps": [{}]}},
    ]
)
def test_no_rule_crashes_on_random_manifests(gitops_repo: Path, docs: list[dict[str, Any]]) -> None:
    repo = Repository(gitops_repo)
    source = repo.root / "deploy_model/overlays/dev"
    items = [Item(d, source, repo.applications()[0]) for d in docs]
    index = SourceIndex(repo.root)
    for env in ("dev", None):
        ctx = Context(
            repo=repo,
            config=repo.config.validate_,
            index=index,
            environment=env,
            apps=repo.applications()[:1],
            items=items,
            all_apps=repo.applications(),
        )
        for rule in REGISTRY.values():
            if rule.scope == "files":
                continue
            findings = _run_rule(rule, ctx, None)
            crashed = [f for f in findings if "could not finish" in f.message]
            assert not crashed, crashed


def _parses(text: str) -> bool:
    """Whether PyYAML reads ``text`` as YAML syntax (tags such as ``=`` are not resolved here)."""
    try:
        for _event in yaml.parse(text):
            pass
    except yaml.YAMLError:
        return False
    return True


def _kustomize_builds(overlay: Path) -> bool:
    proc = subprocess.run([*kustomize.command(), str(overlay)], capture_output=True, check=False)
    return proc.returncode == 0


@settings(max_examples=12, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(
    text=st.one_of(st.text(max_size=200), st.sampled_from(["a: [1", "- - -\n:", "kind: [", "\t- x", "{{"]))
)
@example(text="]")  # yamllint itself crashes on a lone closing bracket: still a syntax finding
@example(text="{}")  # parses and builds, fails on yamllint style only
def test_malformed_yaml_in_an_overlay_is_reported_where_it_is(gitops_repo: Path, text: str) -> None:
    """Whatever the overlay's patch holds, the run finishes and reports exactly what is broken.

    The oracles are independent of llmops: PyYAML says whether the file parses, real kustomize
    whether the overlay builds. Other findings (yamllint style, e.g. on ``{}``) may also fail the
    run; the test asserts only what these two oracles decide.
    """
    overlay = gitops_repo / "deploy_model/overlays/dev"
    (overlay / "environment.yaml").write_text(text, encoding="utf-8")
    report = run(Repository(gitops_repo), REGISTRY, environments=["dev"])
    assert [f for f in report.findings if "could not finish" in f.message] == []
    here = [f for f in report.findings if f.file == "deploy_model/overlays/dev/environment.yaml"]
    syntax = [f for f in here if f.rule == "yaml.syntax"]
    overlay_errors = [f for f in report.findings if f.rule == "build.overlay" and f.environment == "dev"]
    assert bool(syntax) == (not _parses(text)), syntax
    assert bool(overlay_errors) == (not _kustomize_builds(overlay)), overlay_errors
    assert all(f.blocking for f in syntax + overlay_errors)
    if syntax or overlay_errors:
        assert report.exit_code == 1  # a broken overlay never passes the gate
    # Findings in the file point inside it (YAML's line breaks are a subset of splitlines').
    assert all(f.line is not None and 1 <= f.line <= len(text.splitlines()) + 1 for f in here), here
