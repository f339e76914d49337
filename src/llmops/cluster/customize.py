"""llmops' Argo CD customizations (``argocd/customizations/``), appended to the ``ArgoCD`` instance.

The OpenShift GitOps operator renders Argo CD's configuration from the ``ArgoCD`` custom
resource (argocd-operator ``argoproj.io_argocds.yaml``: ``spec.resourceHealthChecks`` a list,
``spec.rbac.policy`` a CSV string, ``spec.controller.appSync`` a duration). The CRD declares
the list without merge keys, so a merge patch or server-side apply would replace the whole list;
this module writes a JSON patch instead that:

- appends each health check, or replaces it in place when llmops wrote it before (recorded in
  the annotation ``llmops.io/customizations``, or recognisable by the llmops header of the
  script); an entry someone else wrote for the same kind is a conflict, left alone unless forced;
- appends the RBAC lines as one block between ``# BEGIN llmops`` and ``# END llmops`` markers,
  replacing only that block on later runs;
- sets the polling interval unless someone else set another one (a conflict);
- starts with a ``test`` of the resourceVersion, so a concurrent edit fails instead of being lost.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmops.errors import ConfigError

CUSTOMIZATIONS = Path("argocd/customizations/argocd-customizations.yaml")
RECORD = "llmops.io/customizations"
BEGIN = "# BEGIN llmops (managed by `llmops bootstrap`; edit argocd/customizations/ instead)"
END = "# END llmops"
OURS_PREFIX = "-- Argo CD health check for "  # the first line of llmops' Lua scripts


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HealthCheckFile(_Strict):
    group: str
    kind: str = Field(min_length=1)
    check: str = Field(min_length=1)  # a Lua file, relative to the customizations file


class RbacConfig(_Strict):
    policy: str = ""


class CustomizationsFile(_Strict):
    instance: str = "openshift-gitops"
    resourceHealthChecks: list[HealthCheckFile] = Field(default_factory=list)
    rbac: RbacConfig = Field(default_factory=RbacConfig)
    appSync: str | None = None


@dataclass(frozen=True, kw_only=True)
class Customizations:
    instance: str
    health_checks: tuple[dict[str, str], ...]  # {group, kind, check: the Lua text}
    policy: str
    app_sync: str | None


def load(root: Path, rel: Path = CUSTOMIZATIONS) -> Customizations:
    """The customizations of the repository at ``root`` (the Lua scripts read in)."""
    path = root / rel
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        parsed = CustomizationsFile.model_validate(raw)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{rel} does not exist", hint="copy argocd/customizations/ from the llmops reference"
        ) from exc
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{rel} is unreadable: {str(exc).splitlines()[0]}") from exc
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{rel} is invalid: {where}") from exc
    checks = []
    for entry in parsed.resourceHealthChecks:
        script = (path.parent / entry.check).resolve()
        if not script.is_relative_to(root.resolve()):
            raise ConfigError(f"{rel}: health check {entry.check} is outside the repository")
        try:
            text = script.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{rel}: cannot read the health check {entry.check}: {exc.strerror}") from exc
        checks.append({"group": entry.group, "kind": entry.kind, "check": text})
    return Customizations(
        instance=parsed.instance, health_checks=tuple(checks), policy=parsed.rbac.policy.strip(),
        app_sync=parsed.appSync,
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What bootstrap would change on the ArgoCD instance."""

    before: dict[str, Any]
    after: dict[str, Any]
    ops: tuple[dict[str, Any], ...]  # the JSON patch (empty: nothing to change)
    conflicts: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return bool(self.ops)


def _record(instance: dict[str, Any]) -> dict[str, Any]:
    raw = ((instance.get("metadata") or {}).get("annotations") or {}).get(RECORD)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def _ours(entry: dict[str, Any], record: dict[str, Any]) -> bool:
    key = f"{entry.get('group', '')}/{entry.get('kind', '')}"
    return key in (record.get("healthChecks") or []) or str(entry.get("check", "")).startswith(OURS_PREFIX)


def _block(policy: str) -> str:
    return f"{BEGIN}\n{policy}\n{END}"


def _with_block(existing: str, policy: str) -> str:
    """``existing`` with llmops' block replaced, or appended when it is not there yet."""
    start, end = existing.find(BEGIN), existing.find(END)
    if start != -1 and end != -1 and end > start:
        return existing[:start] + _block(policy) + existing[end + len(END) :]
    sep = "" if not existing or existing.endswith("\n") else "\n"
    return f"{existing}{sep}{_block(policy)}\n"


class _Patch:
    def __init__(self, instance: dict[str, Any]) -> None:
        self.after = copy.deepcopy(instance)
        self.spec = self.after.setdefault("spec", {})
        rv = (instance.get("metadata") or {}).get("resourceVersion")
        self.ops: list[dict[str, Any]] = [{"op": "test", "path": "/metadata/resourceVersion", "value": rv}]
        self.conflicts: list[str] = []
        self.changed = False

    def op(self, op: str, path: str, value: Any = None, *, old: Any = None) -> None:
        if op == "replace":
            self.ops.append({"op": "test", "path": path, "value": old})
        self.ops.append({"op": op, "path": path, "value": value})
        self.changed = True


def _same_kind(entry: Any, check: dict[str, str]) -> bool:
    return isinstance(entry, dict) and (entry.get("group", ""), entry.get("kind")) == (
        check["group"],
        check["kind"],
    )


def _health_checks(
    patch: _Patch, wanted: tuple[dict[str, str], ...], record: dict[str, Any], force: bool
) -> list[str]:
    owned: list[str] = []
    current = patch.spec.get("resourceHealthChecks")
    if not isinstance(current, list):
        if wanted:
            patch.spec["resourceHealthChecks"] = [dict(w) for w in wanted]
            patch.op("add", "/spec/resourceHealthChecks", [dict(w) for w in wanted])
        return [f"{w['group']}/{w['kind']}" for w in wanted]
    for check in wanted:
        key = f"{check['group']}/{check['kind']}"
        index = next((i for i, e in enumerate(current) if _same_kind(e, check)), None)
        if index is None:
            current.append(dict(check))
            patch.op("add", "/spec/resourceHealthChecks/-", dict(check))
        elif current[index] != check:
            if not (_ours(current[index], record) or force):
                patch.conflicts.append(
                    f"the instance has a health check for {key} that llmops did not write: left as it is"
                )
                continue
            patch.op("replace", f"/spec/resourceHealthChecks/{index}", dict(check), old=current[index])
            current[index] = dict(check)
        owned.append(key)
    return owned


def _rbac(patch: _Patch, policy: str) -> None:
    if not policy:
        return
    rbac = patch.spec.get("rbac")
    if not isinstance(rbac, dict):
        patch.spec["rbac"] = {"policy": _with_block("", policy)}
        patch.op("add", "/spec/rbac", dict(patch.spec["rbac"]))
        return
    existing = rbac.get("policy")
    updated = _with_block(str(existing or ""), policy)
    if existing is None:
        rbac["policy"] = updated
        patch.op("add", "/spec/rbac/policy", updated)
    elif updated != existing:
        rbac["policy"] = updated
        patch.op("replace", "/spec/rbac/policy", updated, old=existing)


def _app_sync(patch: _Patch, wanted: str | None, record: dict[str, Any], force: bool) -> str | None:
    if not wanted:
        return None
    controller = patch.spec.get("controller")
    if not isinstance(controller, dict):
        patch.spec["controller"] = {"appSync": wanted}
        patch.op("add", "/spec/controller", {"appSync": wanted})
        return wanted
    current = controller.get("appSync")
    if current == wanted:
        return wanted
    if current is not None and current != record.get("appSync") and not force:
        patch.conflicts.append(f"the instance polls Git every {current} (set by someone else): left as it is")
        return None
    controller["appSync"] = wanted
    patch.op("replace" if current is not None else "add", "/spec/controller/appSync", wanted, old=current)
    return wanted


def plan(instance: dict[str, Any], wanted: Customizations, *, force: bool = False) -> Plan:
    """The JSON patch that brings llmops' customizations into ``instance``, keeping everything else."""
    record = _record(instance)
    patch = _Patch(instance)
    owned = _health_checks(patch, wanted.health_checks, record, force)
    _rbac(patch, wanted.policy)
    app_sync = _app_sync(patch, wanted.app_sync, record, force)
    new_record = {"healthChecks": sorted(owned), **({"appSync": app_sync} if app_sync else {})}
    if patch.changed or new_record != record:
        value = json.dumps(new_record, sort_keys=True)
        meta = patch.after.setdefault("metadata", {})
        if isinstance(meta.get("annotations"), dict):
            meta["annotations"][RECORD] = value
            patch.ops.append(
                {"op": "add", "path": "/metadata/annotations/" + RECORD.replace("/", "~1"), "value": value}
            )
        else:
            meta["annotations"] = {RECORD: value}
            patch.ops.append({"op": "add", "path": "/metadata/annotations", "value": {RECORD: value}})
        patch.changed = True
    ops = tuple(patch.ops) if patch.changed else ()
    return Plan(before=instance, after=patch.after, ops=ops, conflicts=tuple(patch.conflicts))
