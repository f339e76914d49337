"""The repository configuration file, ``llmops.yaml`` at the repository root.

It is optional: without it llmops uses the defaults below (dev -> staging ->
production, Applications under ``argocd/``). Validation errors name the field.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmops.errors import ConfigError, ManifestError
from llmops.gitops import manifests
from llmops.support.files import inside

CONFIG_FILE = "llmops.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class EnvironmentConfig(_Strict):
    """One stage of the promotion path."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    # The sync policy this environment must have: automated (prune + selfHeal) or manual.
    sync: Literal["automated", "manual"] = "manual"


class ReleaseField(_Strict):
    """A field that belongs to the release (copied by promotion), e.g. the model URI."""

    kind: str
    path: str


class ReleaseConfig(_Strict):
    # The overlay file that holds the release; promotion edits only this file.
    file: str = "release.yaml"
    fields: list[ReleaseField] = Field(
        default_factory=lambda: [
            ReleaseField(kind="InferenceService", path="spec.predictor.model.image"),
            ReleaseField(kind="InferenceService", path="spec.predictor.model.storageUri"),
            ReleaseField(kind="InferenceService", path="spec.predictor.model.args"),
        ]
    )


class SmokeLimits(_Strict):
    """Latency limits for the smoke test; unset means not checked."""

    ttft_ms: float | None = Field(default=None, gt=0)  # time to first token of the streamed answer
    latency_ms: float | None = Field(default=None, gt=0)  # whole non-streamed chat completion


class GoldenPrompt(_Strict):
    """A prompt whose answer must contain every expected substring (case-insensitive)."""

    prompt: str = Field(min_length=1)
    expect: list[str] = Field(min_length=1)
    max_tokens: int = Field(default=32, ge=1)


class SmokeEnvironment(_Strict):
    """Per-environment smoke settings; unset fields fall back to the ``smoke:`` defaults."""

    url: str | None = None  # endpoint URL (``LLMOPS_ENDPOINT_<ENV>`` overrides it)
    model: str | None = None  # served model name (default: the only one served)
    limits: SmokeLimits | None = None
    golden: list[GoldenPrompt] | None = None


class SmokeConfig(_Strict):
    """``llmops smoke``: what to ask and what to accept."""

    prompt: str = Field(default="Say hello in one short sentence.", min_length=1)
    max_tokens: int = Field(default=16, ge=1)
    timeout_s: float = Field(default=10.0, gt=0)  # per HTTP request
    retries: int = Field(default=3, ge=0)  # for connection refused, timeouts and 5xx
    deadline_s: float = Field(default=60.0, gt=0)  # the whole run, retries included
    limits: SmokeLimits = Field(default_factory=SmokeLimits)
    golden: list[GoldenPrompt] = Field(default_factory=list)
    environments: dict[str, SmokeEnvironment] = Field(default_factory=dict)

    def for_environment(self, env: str | None) -> SmokeEnvironment:
        """The settings for ``env`` with the defaults filled in."""
        own = self.environments.get(env or "") or SmokeEnvironment()
        return SmokeEnvironment(
            url=own.url,
            model=own.model,
            limits=own.limits if own.limits is not None else self.limits,
            golden=own.golden if own.golden is not None else self.golden,
        )


class BenchProfile(_Strict):
    """The GuideLLM load profile (``--profile kind=...``)."""

    kind: Literal["synchronous", "concurrent", "throughput", "constant", "poisson", "sweep"] = "concurrent"
    streams: int | None = Field(default=4, ge=1)  # concurrent: parallel request streams
    rate: float | None = Field(default=None, gt=0)  # constant/poisson: requests per second; sweep: steps


class BenchSLO(_Strict):
    """Service-level objectives a benchmark must meet; unset means not checked."""

    ttft_p95_ms: float | None = Field(default=None, gt=0)
    itl_p95_ms: float | None = Field(default=None, gt=0)
    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    min_output_tokens_per_s: float | None = Field(default=None, ge=0)


class BenchEnvironment(_Strict):
    """Per-environment bench settings; unset fields fall back to the ``bench:`` defaults."""

    url: str | None = None
    model: str | None = None
    profile: BenchProfile | None = None
    max_requests: int | None = Field(default=None, ge=1)
    max_seconds: float | None = Field(default=None, gt=0)
    slo: BenchSLO | None = None


class BenchConfig(_Strict):
    """``llmops bench``: the GuideLLM load profile and the SLOs it is judged by."""

    profile: BenchProfile = Field(default_factory=BenchProfile)
    max_requests: int | None = Field(default=40, ge=1)
    max_seconds: float | None = Field(default=None, gt=0)
    prompt_tokens: int = Field(default=128, ge=1)
    output_tokens: int = Field(default=64, ge=1)
    # A local tokenizer directory or hub id for GuideLLM's synthetic prompts (default: the model name).
    tokenizer: str | None = None
    timeout_s: float = Field(default=600.0, gt=0)  # the whole GuideLLM run
    slo: BenchSLO = Field(default_factory=BenchSLO)
    environments: dict[str, BenchEnvironment] = Field(default_factory=dict)

    def for_environment(self, env: str | None) -> BenchEnvironment:
        own = self.environments.get(env or "") or BenchEnvironment()
        return BenchEnvironment(
            url=own.url,
            model=own.model,
            profile=own.profile or self.profile,
            max_requests=own.max_requests if own.max_requests is not None else self.max_requests,
            max_seconds=own.max_seconds if own.max_seconds is not None else self.max_seconds,
            slo=own.slo or self.slo,
        )


class Severity(StrEnum):
    """How much a validation finding matters; ``error`` fails ``llmops validate`` (the one definition)."""

    error = "error"
    warning = "warning"
    info = "info"


class RuleSetting(_Strict):
    """How one validation rule behaves in this repository (``validate.rules.<id>``)."""

    # Severity everywhere, then per environment (e.g. {production: error}).
    severity: Severity | None = None
    environments: dict[str, Severity] = Field(default_factory=dict)
    # Turn the rule off; a written reason is required.
    disabled: bool = False
    # Why the rule is configured this way; required when disabled, shown next to kept warnings.
    reason: str | None = None

    @field_validator("reason")
    @classmethod
    def _non_empty(cls, reason: str | None) -> str | None:
        if reason is not None and not reason.strip():
            raise ValueError("reason must not be empty")
        return reason


class CelRule(_Strict):
    """A rule of the repository's own, written in CEL (``validate.cel_rules``; docs/guide-validate.md)."""

    # Stable id: how findings, llmops.yaml settings and suppression annotations name it.
    id: str = Field(pattern=r"^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$")
    # True when the object is fine; `object` is the resource, `environment` the environment checked.
    expression: str = Field(min_length=1, max_length=5 * 1024)
    # What a finding says: a CEL expression returning a string, else the message, else the expression.
    message: str | None = None
    message_expression: str | None = None
    hint: str = "fix the resource so that the rule's expression holds"
    rationale: str | None = None  # one line: why the rule exists (listed by --list-rules)
    severity: Severity = Severity.error
    environments: dict[str, Severity] = Field(default_factory=dict)  # per-environment severity
    kinds: list[str] = Field(default_factory=list)  # resource kinds checked; empty: every kind
    # The field a finding points at (dotted, e.g. spec.predictor.minReplicas); default: the first
    # field of `object` the expression reads.
    field: str | None = None
    scope: Literal["environment", "repository", "resources"] = "resources"


class ValidateConfig(_Strict):
    """Settings of ``llmops validate`` (all optional)."""

    # Folders and files scanned for YAML lint and stand-alone manifests (default: the whole repository).
    paths: list[str] = Field(default_factory=list)
    # The CRD schema catalog (``llmops schemas import``), relative to the repository root; commit it.
    schemas: str = "schemas"
    # Kubernetes release whose core schemas are used (bundled by kubernetes-validate).
    kubernetes_version: str = "1.33"
    # Repositories Applications may deploy from; empty = the AppProject's sourceRepos.
    allowed_repos: list[str] = Field(default_factory=list)
    # The last environment may track a branch (a floating revision) only if listed here, with a reason.
    floating_revisions: dict[str, str] = Field(default_factory=dict)
    # Images (name without tag) that may be referenced by tag until a digest is pinned, each
    # with the reason: reported as a warning, never an error, and only while unpinned.
    unpinned_images: dict[str, str] = Field(default_factory=dict)
    # Per-rule severity overrides and disables, keyed by rule id.
    rules: dict[str, RuleSetting] = Field(default_factory=dict)
    # Folders (or files) of ValidatingAdmissionPolicies, their bindings and params, evaluated on
    # every rendered object as the API server would (inside the repository).
    policies: list[str] = Field(default_factory=list)
    # Rules of the repository's own, in CEL.
    cel_rules: list[CelRule] = Field(default_factory=list)

    @field_validator("cel_rules")
    @classmethod
    def _unique_rule_ids(cls, rules: list[CelRule]) -> list[CelRule]:
        ids = [r.id for r in rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"cel_rules ids must be unique, repeated: {', '.join(dupes)}")
        return rules

    @field_validator("unpinned_images")
    @classmethod
    def _unpinned_needs_reason(cls, images: dict[str, str]) -> dict[str, str]:
        for image, reason in images.items():
            if not str(reason or "").strip():
                raise ValueError(f"unpinned image {image} is accepted without a reason")
            if "@" in image or ":" in image.rpartition("/")[2]:
                raise ValueError(f"unpinned image {image} must be a name without tag or digest")
        return images

    # Folders holding the CI pipeline; under --policy-from a change to them is reported (policy.pipeline).
    pipelines: list[str] = Field(default_factory=lambda: [".tekton", "pipelines", ".github/workflows"])

    @field_validator("rules")
    @classmethod
    def _disabled_needs_reason(cls, rules: dict[str, RuleSetting]) -> dict[str, RuleSetting]:
        for rule_id, setting in rules.items():
            if setting.disabled and not setting.reason:
                raise ValueError(f"rule {rule_id} is disabled without a reason")
        return rules


class HealthCheckFile(_Strict):
    """A Lua health check (as in Argo CD's resource customizations) for one group and kind."""

    group: str
    kind: str = Field(min_length=1)
    file: str = Field(min_length=1)  # relative to the repository root


class EngineRepository(_Strict):
    """Where the engine finds a repository an Application's ``repoURL`` names."""

    url: str = Field(min_length=1)  # the repoURL as the Applications write it
    # A local git repository (relative to this repository's root, or absolute): watched, seen at once.
    path: str | None = None
    # Or a remote the engine mirrors into its state directory and fetches every ``poll_s``.
    remote: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> EngineRepository:
        if (self.remote is None) == (self.path is None):
            raise ValueError("give exactly one of path (a local repository) or remote (a URL to mirror)")
        return self


class EngineConfig(_Strict):
    """``llmops up``: the embedded engine that serves the environments on this machine."""

    # Default: $XDG_STATE_HOME/llmops/<repository>-<hash> (LLMOPS_STATE_DIR wins over both).
    state_dir: str | None = None
    api_host: str = "127.0.0.1"  # another address requires the API token (state_dir/token)
    api_port: int = Field(default=0, ge=0, le=65535)  # 0: a free port, remembered across restarts
    # A fixed stable endpoint port per environment; unset: a free port, remembered across restarts.
    ports: dict[str, int] = Field(default_factory=dict)
    # repoURL -> local repository or remote; unlisted repoURLs are this repository.
    repositories: list[EngineRepository] = Field(default_factory=list)
    poll_s: float = Field(default=180.0, gt=0)  # remote repositories (Argo CD polls every 3 minutes)
    # Model storage URI or model id -> local model directory (relative to the repository root or absolute).
    models: dict[str, str] = Field(default_factory=dict)
    max_replicas: int = Field(default=1, ge=1)  # vLLM processes per InferenceService on this machine
    kv_cache_gib: int = Field(default=1, ge=1)  # cap on each process's KV cache (vLLM CPU, whole GiB)
    # Argo CD's --self-heal-timeout-seconds: no self-heal sync until this long after the last operation.
    self_heal_timeout_s: float = Field(default=5.0, ge=0)
    # Start vLLM with --enforce-eager -O0 (about half the start-up time of the CPU build).
    fast_start: bool = True
    # Argo CD health checks in Lua, by group and kind (the InferenceService one ships in argocd/health/).
    health_checks: list[HealthCheckFile] = Field(
        default_factory=lambda: [
            HealthCheckFile(
                group="serving.kserve.io", kind="InferenceService", file="argocd/health/inferenceservice.lua"
            )
        ]
    )


class KustomizeConfig(_Strict):
    """How llmops runs kustomize (``kustomize:``), for what Argo CD's settings do not say."""

    # Argo CD's kustomize build options (argocd-cm `kustomize.buildOptions`, filled by the
    # OpenShift GitOps operator from the ArgoCD resource's `spec.kustomizeBuildOptions`),
    # e.g. "--enable-helm". Unset: read from an ArgoCD resource or argocd-cm in the repository.
    build_options: str | None = None


class ClusterConfig(_Strict):
    """Where the environment verbs go by default (``--target``, ``--context``, ``--namespace`` win)."""

    # local: the embedded engine (llmops up); cluster: Argo CD on the kubeconfig's cluster. Unset: local
    # (LLMOPS_TARGET wins over this).
    target: Literal["local", "cluster"] | None = None
    context: str | None = None  # kubeconfig context; unset: the current one
    namespace: str = Field(default="openshift-gitops", min_length=1)  # where Argo CD keeps Applications


class Limits(_Strict):
    """What untrusted repository content and endpoints may cost (docs/security.md).

    ``llmops validate --policy-from BASE`` takes these from the base branch, so a pull
    request cannot raise the limits it is judged by.
    """

    # One YAML file: larger files are refused unread (a finding in validate).
    yaml_file_mib: float = Field(default=8, gt=0)
    # Nodes YAML aliases may add to one file when expanded ("billion laughs" documents).
    yaml_alias_nodes: int = Field(default=100_000, ge=0)
    # Every YAML file one validate run reads, together; files past it are not checked (a finding).
    validate_total_mib: float = Field(default=256, gt=0)
    # One kustomize process: private memory (RLIMIT_DATA), CPU seconds, wall-clock seconds.
    kustomize_memory_mib: int = Field(default=1024, ge=128)
    kustomize_cpu_s: int = Field(default=60, ge=1)
    kustomize_timeout_s: float = Field(default=120, gt=0)
    # Seconds to reach the host of a remote kustomize resource before kustomize is started.
    remote_timeout_s: float = Field(default=10, gt=0)
    # The largest HTTP answer smoke and bench read from an endpoint.
    response_mib: float = Field(default=16, gt=0)


def _default_environments() -> list[EnvironmentConfig]:
    return [
        EnvironmentConfig(name="dev", sync="automated"),
        EnvironmentConfig(name="staging", sync="manual"),
        EnvironmentConfig(name="production", sync="manual"),
    ]


class RepoConfig(_Strict):
    """Contents of ``llmops.yaml``."""

    # Promotion order, first to last.
    environments: list[EnvironmentConfig] = Field(default_factory=_default_environments, min_length=1)
    # Folders (relative to the repository root) searched for Argo CD Application manifests.
    applications: list[str] = Field(default_factory=lambda: ["argocd"], min_length=1)
    release: ReleaseConfig = Field(default_factory=ReleaseConfig)
    smoke: SmokeConfig = Field(default_factory=SmokeConfig)
    bench: BenchConfig = Field(default_factory=BenchConfig)
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    engine: EngineConfig = Field(default_factory=EngineConfig)
    kustomize: KustomizeConfig = Field(default_factory=KustomizeConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    limits: Limits = Field(default_factory=Limits)

    @field_validator("environments")
    @classmethod
    def _unique_names(cls, envs: list[EnvironmentConfig]) -> list[EnvironmentConfig]:
        names = [e.name for e in envs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"environment names must be unique, repeated: {', '.join(dupes)}")
        return envs

    def environment_names(self) -> list[str]:
        return [e.name for e in self.environments]


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def load_config(root: Path) -> RepoConfig:
    path = root / CONFIG_FILE
    if not path.exists() and not path.is_symlink():
        return RepoConfig()
    inside(root, CONFIG_FILE, what=CONFIG_FILE)
    budget = manifests.YamlBudget()  # llmops.yaml sets the limits: it is read within the defaults
    try:
        raw = manifests.safe_load(manifests.read_text(path, CONFIG_FILE, budget), CONFIG_FILE, budget)
    except manifests.YamlBudgetError as exc:
        raise ConfigError(exc.message, hint=exc.hint) from exc
    except ManifestError as exc:  # unreadable (not UTF-8, permissions)
        raise ConfigError(exc.message) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise ConfigError(
            f"{CONFIG_FILE}{where} is not valid YAML",
            hint="fix the syntax or delete the file to use defaults",
        ) from exc
    if raw is None:
        return RepoConfig()
    if not isinstance(raw, dict):
        raise ConfigError(f"{CONFIG_FILE} must be a mapping, found {type(raw).__name__}")
    try:
        return RepoConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            f"{CONFIG_FILE} is invalid: {_describe(exc)}",
            hint="see docs/configuration.md for the fields llmops.yaml accepts",
        ) from exc
