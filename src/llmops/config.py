"""The repository configuration file, ``llmops.yaml`` at the repository root.

It is optional: without it llmops uses the defaults below (dev -> staging ->
production, Applications under ``argocd/``). Validation errors name the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmops.errors import ConfigError

CONFIG_FILE = "llmops.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


Severity = Literal["error", "warning", "info"]


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
    # Per-rule severity overrides and disables, keyed by rule id.
    rules: dict[str, RuleSetting] = Field(default_factory=dict)

    @field_validator("rules")
    @classmethod
    def _disabled_needs_reason(cls, rules: dict[str, RuleSetting]) -> dict[str, RuleSetting]:
        for rule_id, setting in rules.items():
            if setting.disabled and not setting.reason:
                raise ValueError(f"rule {rule_id} is disabled without a reason")
        return rules


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
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")

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
    if not path.exists():
        return RepoConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
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
