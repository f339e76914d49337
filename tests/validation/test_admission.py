"""ValidatingAdmissionPolicies on rendered manifests: the decisions the API server would make.

The policies are the Kubernetes documentation's examples (replica limits with params, label
requirements with matchConditions, Warn and Audit bindings, variables, messageExpression),
pointed at the reference repository rendered with real kustomize. Each expected decision is
written from the documented semantics: which objects a policy and binding match, which param
is used, what message the API server returns, and how failurePolicy treats errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testing.repos import copy_reference as copy_reference_content
from testing.repos import edit, init_repo, line_of

from llmops.gitops.repo import Repository
from llmops.validation import custom
from llmops.validation.rules import REGISTRY
from llmops.validation.runner import environments_to_check, run
from llmops.validation.types import Finding, Severity

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gateway
  labels:
    app: gateway
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: gateway
  template:
    metadata:
      labels:
        app: gateway
    spec:
      containers:
        - name: gateway
          image: quay.io/example/gateway@sha256:{digest}
          resources:
            requests: {{cpu: 100m, memory: 64Mi}}
            limits: {{cpu: 100m, memory: 64Mi}}
"""

# Kubernetes documentation, "Validating Admission Policy": parameter resources (ReplicaLimit),
# a binding per environment namespace, a Warn + Audit binding with a stricter param.
REPLICA_LIMIT = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: replicalimit-policy.example.com
spec:
  failurePolicy: Fail
  paramKind:
    apiVersion: rules.example.com/v1
    kind: ReplicaLimit
  matchConstraints:
    resourceRules:
      - apiGroups: ["apps"]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["deployments"]
  validations:
    - expression: "object.spec.replicas <= params.maxReplicas"
      reason: Invalid
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: replicalimit-binding-test.example.com
spec:
  policyName: replicalimit-policy.example.com
  validationActions: [Deny]
  paramRef:
    name: replica-limit-test.example.com
    namespace: default
    parameterNotFoundAction: Deny
  matchResources:
    namespaceSelector:
      matchLabels:
        llmops.io/environment: dev
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: replicalimit-binding-warn.example.com
spec:
  policyName: replicalimit-policy.example.com
  validationActions: [Warn, Audit]
  paramRef:
    selector:
      matchLabels:
        strictness: high
    namespace: default
    parameterNotFoundAction: Deny
  matchResources:
    namespaceSelector:
      matchExpressions:
        - {key: llmops.io/environment, operator: In, values: [staging]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: replicalimit-binding-missing.example.com
spec:
  policyName: replicalimit-policy.example.com
  validationActions: [Deny]
  paramRef:
    name: no-such-limit
    namespace: default
    parameterNotFoundAction: Deny
  matchResources:
    namespaceSelector:
      matchLabels:
        llmops.io/environment: production
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: replicalimit-binding-allow.example.com
spec:
  policyName: replicalimit-policy.example.com
  validationActions: [Deny]
  paramRef:
    name: no-such-limit
    namespace: default
    parameterNotFoundAction: Allow
---
apiVersion: rules.example.com/v1
kind: ReplicaLimit
metadata:
  name: replica-limit-test.example.com
  namespace: default
maxReplicas: 3
---
apiVersion: rules.example.com/v1
kind: ReplicaLimit
metadata:
  name: replica-limit-strict.example.com
  namespace: default
  labels:
    strictness: high
maxReplicas: 1
"""

# "Matching requests: matchConditions": every object needs a team label, except RBAC objects
# and leases; the binding covers the staging namespace only.
LABELS = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: require-team-label.example.com
spec:
  matchConstraints:
    resourceRules:
      - apiGroups: ["*"]
        apiVersions: ["*"]
        operations: ["CREATE", "UPDATE"]
        resources: ["*"]
        scope: Namespaced
  matchConditions:
    - name: exclude-leases
      expression: >-
        !(request.resource.group == "coordination.k8s.io" && request.resource.resource == "leases")
    - name: rbac
      expression: 'request.resource.group != "rbac.authorization.k8s.io"'
  validations:
    - expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
      message: every object needs a team label
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: require-team-label-staging.example.com
spec:
  policyName: require-team-label.example.com
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        llmops.io/environment: staging
"""

# variables and messageExpression; and failurePolicy on a runtime error, both ways.
VARIABLES = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: replicas-by-annotation.example.com
spec:
  matchConstraints:
    resourceRules:
      - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  variables:
    - name: annotations
      expression: "has(object.metadata.annotations) ? object.metadata.annotations : {}"
    - name: maxReplicas
      expression: >-
        'example.com/max-replicas' in variables.annotations
        ? int(variables.annotations['example.com/max-replicas']) : 4
  validations:
    - expression: "object.spec.replicas <= variables.maxReplicas"
      messageExpression: >-
        'replicas ' + string(object.spec.replicas) + ' exceed ' + string(variables.maxReplicas)
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: replicas-by-annotation.example.com
spec:
  policyName: replicas-by-annotation.example.com
  validationActions: [Deny]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: paused-fail.example.com
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  validations:
    - expression: "object.spec.paused == false"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: paused-ignore.example.com
spec:
  failurePolicy: Ignore
  matchConstraints:
    resourceRules:
      - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  validations:
    - expression: "object.spec.paused == false"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: paused-fail.example.com
spec:
  policyName: paused-fail.example.com
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        llmops.io/environment: dev
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: paused-ignore.example.com
spec:
  policyName: paused-ignore.example.com
  validationActions: [Deny]
"""

UNSUPPORTED = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: uses-bind.example.com
spec:
  matchConstraints:
    resourceRules:
      - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  validations:
    - expression: "object.spec.replicas > 0"
    - expression: "cel.bind(r, object.spec.replicas, r < 100)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: uses-bind.example.com
spec:
  policyName: uses-bind.example.com
  validationActions: [Deny]
"""

EXAMPLES = {"replica-limit.yaml": REPLICA_LIMIT, "labels.yaml": LABELS, "variables.yaml": VARIABLES}
OVERLAYS = Path("deploy_model/overlays")
REPLICAS = {"dev": 5, "staging": 2, "production": 3}


def _add_deployment(repo: Path, env: str, replicas: int) -> None:
    folder = repo / OVERLAYS / env
    (folder / "gateway.yaml").write_text(
        DEPLOYMENT.format(replicas=replicas, digest="a" * 64), encoding="utf-8"
    )
    edit(folder / "kustomization.yaml", "  - ../../base\n", "  - ../../base\n  - gateway.yaml\n")


def example_repo(dest: Path, examples: dict[str, str]) -> Path:
    """The reference repository with a gateway Deployment per environment and the given policies."""
    copy_reference_content(dest)
    for env, replicas in REPLICAS.items():
        _add_deployment(dest, env, replicas)
    (dest / "k8s-examples").mkdir()
    for name, text in examples.items():
        (dest / "k8s-examples" / name).write_text(text, encoding="utf-8")
    edit(
        dest / "llmops.yaml",
        "  policies:\n    - policies\n",
        "  policies:\n    - policies\n    - k8s-examples\n",
    )
    return init_repo(dest)


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Finding]]]:
    """One validation of the example repository (shared: rendering is the slow part)."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:  # the autouse isolation is per test; this runs before it
        for var in ("HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
            mp.setenv(var, str(home / var.lower()))
        mp.setenv("KUBECONFIG", str(home / "no-kubeconfig"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
            mp.setenv(var, "llmops tests")
        for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
            mp.setenv(var, "tests@llmops.invalid")
        repo = example_repo(tmp_path_factory.mktemp("admission") / "repo", EXAMPLES)
        registry = {**REGISTRY, **custom.rules(Repository(repo), REGISTRY).rules}
        yield repo, run(Repository(repo), registry).findings


def decisions(found: list[Finding], policy: str) -> list[tuple[str, str, Severity]]:
    return sorted(
        (f.environment, f.resource, f.severity)
        for f in found
        if f.rule == f"policy/{policy}" and not f.suppressed
    )


def messages(found: list[Finding], policy: str, env: str) -> list[str]:
    return sorted(f.message for f in found if f.rule == f"policy/{policy}" and f.environment == env)


def test_replica_limit_with_params_denies_only_where_the_bound_param_is_exceeded(
    findings: tuple[Path, list[Finding]],
) -> None:
    repo, found = findings
    policy = "replicalimit-policy.example.com"
    dev = [f for f in found if f.rule == f"policy/{policy}" and f.environment == "dev"]
    # dev: 5 replicas > maxReplicas 3 of the named param -> denied, with the API server's fallback message
    assert [(f.resource, f.severity) for f in dev] == [("Deployment/dev-gateway", Severity.error)]
    assert dev[0].message == (
        "ValidatingAdmissionPolicy 'replicalimit-policy.example.com' with binding "
        "'replicalimit-binding-test.example.com' denied request: failed expression: "
        "object.spec.replicas <= params.maxReplicas"
    )
    # ...at the line the expression reads, in the overlay file that sets it
    gateway = repo / OVERLAYS / "dev/gateway.yaml"
    assert (dev[0].file, dev[0].line) == (str(OVERLAYS / "dev/gateway.yaml"), line_of(gateway, "replicas:"))


def test_a_warn_and_audit_binding_reports_without_blocking(findings: tuple[Path, list[Finding]]) -> None:
    _, found = findings
    policy = "replicalimit-policy.example.com"
    # staging: 2 replicas > 1 (the param selected by label) -> a warning and an audit note, no error
    assert [d for d in decisions(found, policy) if d[0] == "staging"] == [
        ("staging", "Deployment/staging-gateway", Severity.info),
        ("staging", "Deployment/staging-gateway", Severity.warning),
    ]
    warning = next(m for m in messages(found, policy, "staging") if m.startswith("Validation failed"))
    assert warning == (
        "Validation failed for ValidatingAdmissionPolicy 'replicalimit-policy.example.com' with binding "
        "'replicalimit-binding-warn.example.com': failed expression: "
        "object.spec.replicas <= params.maxReplicas"
    )


def test_a_missing_param_denies_or_allows_as_parameter_not_found_action_says(
    findings: tuple[Path, list[Finding]],
) -> None:
    _, found = findings
    production = messages(found, "replicalimit-policy.example.com", "production")
    # Deny: a configuration error on every matched object (3 replicas would pass the limit)
    assert production == [
        "ValidatingAdmissionPolicy 'replicalimit-policy.example.com' with binding "
        "'replicalimit-binding-missing.example.com' denied request: failed to configure binding: "
        "no params found for policy binding with `Deny` parameterNotFoundAction"
    ]
    # Allow (bound everywhere): nothing anywhere
    assert not any("replicalimit-binding-allow" in f.message for f in found)


def test_label_requirement_skips_what_match_conditions_exclude(findings: tuple[Path, list[Finding]]) -> None:
    _, found = findings
    policy = "require-team-label.example.com"
    staging = {(d[1], d[2]) for d in decisions(found, policy) if d[0] == "staging"}
    # every namespaced staging object lacks the label; the Role and RoleBinding are excluded
    assert staging == {
        ("ServiceAccount/staging-qwen25-05b-instruct-sa", Severity.error),
        ("ServingRuntime/staging-vllm-runtime", Severity.error),
        ("InferenceService/staging-qwen25-05b-instruct", Severity.error),
        ("Job/staging-qwen25-05b-instruct-smoke", Severity.error),
        ("Deployment/staging-gateway", Severity.error),
    }
    assert all(
        m.endswith("denied request: every object needs a team label")
        for m in messages(found, policy, "staging")
    )
    # other environments' namespaces are not selected by the binding
    assert not [d for d in decisions(found, policy) if d[0] in ("dev", "production")]


def test_a_namespace_missing_from_the_repository_gives_a_note_not_a_guess(
    findings: tuple[Path, list[Finding]],
) -> None:
    _, found = findings
    # The Applications live in openshift-gitops, which no manifest in the repository describes.
    notes = [
        f
        for f in found
        if f.rule == "policy/require-team-label.example.com" and f.resource.startswith("Application/")
    ]
    assert notes and all(f.severity == Severity.info for f in notes)
    assert "namespace openshift-gitops is not in the repository" in notes[0].message


def test_variables_and_message_expression(findings: tuple[Path, list[Finding]]) -> None:
    _, found = findings
    policy = "replicas-by-annotation.example.com"
    assert decisions(found, policy) == [
        ("dev", "Deployment/dev-gateway", Severity.error)
    ]  # 5 > 4; 2 and 3 pass
    assert messages(found, policy, "dev") == [
        "ValidatingAdmissionPolicy 'replicas-by-annotation.example.com' with binding "
        "'replicas-by-annotation.example.com' denied request: replicas 5 exceed 4"
    ]


def test_failure_policy_decides_what_an_evaluation_error_does(findings: tuple[Path, list[Finding]]) -> None:
    _, found = findings
    # spec.paused is not set: Fail denies with the error, Ignore admits
    assert messages(found, "paused-fail.example.com", "dev") == [
        "ValidatingAdmissionPolicy 'paused-fail.example.com' with binding 'paused-fail.example.com' denied "
        "request: expression 'object.spec.paused == false' resulted in error: no such key: paused"
    ]
    assert not [f for f in found if f.rule == "policy/paused-ignore.example.com"]


def test_the_reference_policies_pass_and_the_policies_themselves_are_exempt(
    findings: tuple[Path, list[Finding]],
) -> None:
    _, found = findings
    reference = [f for f in found if f.rule.startswith("policy/llmops-")]
    assert reference == []
    assert not [
        f for f in found if f.rule.startswith("policy/") and "ValidatingAdmissionPolicy/" in f.resource
    ]
    assert not [f for f in found if f.rule.startswith("admission.")]


def test_an_unsupported_function_is_an_error_at_the_policy_line(tmp_path: Path, cli: Any) -> None:
    repo = example_repo(tmp_path / "repo", {"unsupported.yaml": UNSUPPORTED})
    result = cli("validate", "--repo", repo, "--env", "dev", "-o", "json")
    assert result.code == 1
    data = result.json()
    [finding] = [f for f in data["findings"] if f["rule"] == "admission.unsupported"]
    assert "cel.bind()" in finding["message"] and finding["severity"] == "error"
    policy_file = repo / "k8s-examples/unsupported.yaml"
    assert (finding["file"], finding["line"]) == (
        "k8s-examples/unsupported.yaml",
        line_of(policy_file, "cel.bind"),
    )
    # the policy is not evaluated half-way (its first validation would pass): the finding is the verdict
    assert not [f for f in data["findings"] if f["rule"] == "policy/uses-bind.example.com"]


def test_policy_option_tests_a_policy_file_from_outside_the_repository(tmp_path: Path, cli: Any) -> None:
    repo = example_repo(tmp_path / "repo", {})
    policy = tmp_path / "draft.yaml"
    policy.write_text(VARIABLES.split("---\n")[0] + "---\n" + VARIABLES.split("---\n")[1], encoding="utf-8")
    before = cli("validate", "--repo", repo, "--env", "dev", "-o", "json")
    assert not [f for f in before.json()["findings"] if f["rule"].startswith("policy/replicas-by")]
    after = cli("validate", "--repo", repo, "--env", "dev", "--policy", policy, "-o", "json")
    assert after.code == 1
    [finding] = [
        f for f in after.json()["findings"] if f["rule"] == "policy/replicas-by-annotation.example.com"
    ]
    assert finding["message"].endswith("denied request: replicas 5 exceed 4")
    assert str(policy) in finding["hint"]


def test_a_policy_folder_outside_the_repository_is_refused(tmp_path: Path, cli: Any) -> None:
    repo = example_repo(tmp_path / "repo", {})
    edit(repo / "llmops.yaml", "    - k8s-examples\n", "    - ../../etc\n")
    result = cli("validate", "--repo", repo)
    assert result.code == 2
    assert "outside the repository" in result.err and "hint:" in result.err


def test_a_policy_change_needs_every_environment_checked(gitops_repo: Path) -> None:
    edit(gitops_repo / "policies/production-replicas.yaml", ">= 2", ">= 3")
    assert environments_to_check(Repository(gitops_repo), "main") == ["dev", "staging", "production"]
