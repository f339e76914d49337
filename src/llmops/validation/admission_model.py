"""The admission model: policies, bindings, requests and decisions, and loading them from YAML.

See :mod:`llmops.validation.admission` for the semantics (the API server's, followed step by step).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmops.errors import LlmopsError
from llmops.gitops import manifests
from llmops.validation import cel

API_GROUP = "admissionregistration.k8s.io"
POLICY_KIND = "ValidatingAdmissionPolicy"
BINDING_KIND = "ValidatingAdmissionPolicyBinding"
EXEMPT_KINDS = frozenset(
    {
        POLICY_KIND,
        BINDING_KIND,
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
    }
)
# Kinds the API server keeps outside namespaces (the common ones; the rest count as namespaced).
CLUSTER_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "StorageClass",
        "CustomResourceDefinition",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "APIService",
        "ClusterIssuer",
        "SecurityContextConstraints",
        "Project",
        *EXEMPT_KINDS,
    }
)
Action = Literal["Deny", "Warn", "Audit", "Note"]  # Note: llmops could not decide (see NamespaceUnknown)
ACTIONS: tuple[str, ...] = ("Deny", "Warn", "Audit")  # what validationActions may list


class PolicyError(LlmopsError):
    """A policy or binding the API server would refuse or could not apply (kept as a finding)."""


class NamespaceUnknown(PolicyError):
    """The object's Namespace is not in the repository, so a namespaceSelector cannot be decided.

    The API server would look it up on the cluster; before merge the policy is not applied to
    the object and a note says so (never a silent pass, never a guessed denial).
    """


# -- the model --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Policy:
    """One ``ValidatingAdmissionPolicy`` (``spec`` kept as written) and the file it came from."""

    name: str
    spec: Mapping[str, Any]
    file: Path
    manifest: Mapping[str, Any] = field(repr=False)

    @property
    def failure_policy(self) -> str:
        return str(self.spec.get("failurePolicy") or "Fail")

    @property
    def param_kind(self) -> tuple[str, str] | None:
        pk = self.spec.get("paramKind")
        if not isinstance(pk, dict):
            return None
        return str(pk.get("apiVersion", "")), str(pk.get("kind", ""))

    def entries(self, key: str) -> list[Mapping[str, Any]]:
        value = self.spec.get(key)
        return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


@dataclass(frozen=True, kw_only=True)
class Binding:
    """One ``ValidatingAdmissionPolicyBinding``."""

    name: str
    policy: str
    actions: tuple[str, ...]
    param_ref: Mapping[str, Any] | None
    match_resources: Mapping[str, Any] | None
    file: Path


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A policy or binding that cannot work as written: reported where it is written."""

    file: Path
    kind: str
    name: str
    path: tuple[str | int, ...]
    message: str
    hint: str
    unsupported: bool = False  # llmops cannot evaluate it (the API server could)


@dataclass(frozen=True, kw_only=True)
class PolicySet:
    """What the policy folders hold: policies, bindings, other objects (params), problems."""

    policies: dict[str, Policy] = field(default_factory=dict)
    bindings: list[Binding] = field(default_factory=list)
    objects: list[Mapping[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unusable: frozenset[str] = frozenset()  # policies with expressions llmops cannot evaluate

    def bindings_of(self, policy: str) -> list[Binding]:
        return [b for b in self.bindings if b.policy == policy]


@dataclass(frozen=True, kw_only=True)
class Request:
    """An admission request for one object (always a CREATE)."""

    object: Mapping[str, Any]
    group: str
    version: str
    kind: str
    resource: str
    namespace: str  # '' for cluster-scoped objects
    name: str
    operation: str = "CREATE"


@dataclass(frozen=True, kw_only=True)
class World:
    """What the cluster would hold: Namespaces by name, and objects that may serve as params."""

    namespaces: Mapping[str, Mapping[str, Any]]
    objects: list[Mapping[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Decision:
    """A denial, warning or audit note of one policy (and binding) for one object."""

    policy: str
    binding: str | None
    action: Action
    message: str  # as the API server words it
    reason: str = "Invalid"
    field_path: tuple[str | int, ...] = ()  # where in the object (the field the expression reads)
    policy_path: tuple[str | int, ...] = ()  # where in the policy (the failing expression)


# -- loading ----------------------------------------------------------------------------------


def _ok_api(doc: Mapping[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith(API_GROUP + "/")


def _binding(doc: Mapping[str, Any], file: Path) -> Binding:
    spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    actions = spec.get("validationActions")
    return Binding(
        name=manifests.resource_id(dict(doc)).name,
        policy=str(spec.get("policyName", "")),
        actions=tuple(str(a) for a in actions) if isinstance(actions, list) else (),
        param_ref=spec.get("paramRef") if isinstance(spec.get("paramRef"), dict) else None,
        match_resources=spec.get("matchResources") if isinstance(spec.get("matchResources"), dict) else None,
        file=file,
    )


def _expressions(policy: Policy) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path in the policy, source) of every CEL expression the policy holds."""
    for key, fields in (
        ("matchConditions", ("expression",)),
        ("variables", ("expression",)),
        ("validations", ("expression", "messageExpression")),
        ("auditAnnotations", ("valueExpression",)),
    ):
        for i, entry in enumerate(policy.entries(key)):
            for name in fields:
                if isinstance(entry.get(name), str):
                    yield ("spec", key, i, name), str(entry[name])


def _policy_problems(policy: Policy) -> Iterator[Problem]:
    constraints = policy.spec.get("matchConstraints")
    if not isinstance(constraints, dict) or not constraints.get("resourceRules"):
        yield Problem(
            file=policy.file,
            kind=POLICY_KIND,
            name=policy.name,
            path=("spec",),
            message="the API server would refuse this policy: matchConstraints.resourceRules is required",
            hint="say which resources the policy applies to in spec.matchConstraints.resourceRules",
        )
    for path, source in _expressions(policy):
        try:
            cel.compile(source)
        except cel.CelUnsupportedError as exc:
            yield Problem(
                file=policy.file,
                kind=POLICY_KIND,
                name=policy.name,
                path=path,
                message=str(exc),
                hint=exc.hint or "",
                unsupported=True,
            )
        except cel.CelError as exc:
            yield Problem(
                file=policy.file,
                kind=POLICY_KIND,
                name=policy.name,
                path=path,
                message=f"the API server would refuse this policy: {exc}",
                hint="fix the CEL syntax (the API server compiles every expression on create)",
            )


def _binding_problems(binding: Binding, policies: Mapping[str, Policy]) -> Iterator[Problem]:
    def problem(path: tuple[str | int, ...], message: str, hint: str) -> Problem:
        return Problem(
            file=binding.file, kind=BINDING_KIND, name=binding.name, path=path, message=message, hint=hint
        )

    if binding.policy not in policies:
        yield problem(
            ("spec", "policyName"),
            f"binds policy {binding.policy!r}, which no policy folder defines: it checks nothing",
            "fix spec.policyName, or add the policy to a folder in validate.policies",
        )
    bad = [a for a in binding.actions if a not in ACTIONS]
    if not binding.actions or bad:
        yield problem(
            ("spec", "validationActions"),
            "validationActions must list Deny, Warn or Audit"
            + (f" (found {', '.join(bad)})" if bad else " (it is empty)"),
            "use validationActions: [Deny] to block, [Warn] or [Audit] to report",
        )


def load(files: Iterable[Path]) -> PolicySet:
    """Policies, bindings and other objects (params, Namespaces) from ``files``; problems kept."""
    policies: dict[str, Policy] = {}
    bindings: list[Binding] = []
    objects: list[Mapping[str, Any]] = []
    for file in files:
        try:
            docs = manifests.load_file(file)
        except LlmopsError:
            continue  # the yaml rules report unreadable files
        for doc in docs:
            kind = doc.get("kind")
            if kind == POLICY_KIND and _ok_api(doc):
                name = manifests.resource_id(doc).name
                spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
                policies[name] = Policy(name=name, spec=spec or {}, file=file, manifest=doc)
            elif kind == BINDING_KIND and _ok_api(doc):
                bindings.append(_binding(doc, file))
            elif doc.get("apiVersion") and kind and not str(doc.get("apiVersion")).startswith("kustomize."):
                objects.append(doc)
    problems = [p for policy in policies.values() for p in _policy_problems(policy)]
    problems += [p for b in bindings for p in _binding_problems(b, policies)]
    unusable = frozenset(p.name for p in problems if p.kind == POLICY_KIND)
    return PolicySet(
        policies=policies, bindings=bindings, objects=objects, problems=problems, unusable=unusable
    )


# -- requests ---------------------------------------------------------------------------------


def resource_name(kind: str) -> str:
    """The plural resource of a kind, as kubectl guesses it (``meta.UnsafeGuessKindToResource``)."""
    lower = kind.lower()
    if not lower:
        return lower
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def request_for(obj: Mapping[str, Any], default_namespace: str = "") -> Request:
    """The CREATE request for ``obj``; namespaced kinds without a namespace get ``default_namespace``."""
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    kind = str(obj.get("kind", ""))
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    namespace = "" if kind in CLUSTER_KINDS else str(meta.get("namespace") or default_namespace)
    return Request(
        object=obj,
        group=group,
        version=version,
        kind=kind,
        resource=resource_name(kind),
        namespace=namespace,
        name=str(meta.get("name", "")),
    )
