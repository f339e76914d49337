"""schema: every resource against strict JSON schemas (Kubernetes core kinds and imported CRDs)."""

from __future__ import annotations

from collections.abc import Iterator

from llmops.validation.catalog import Violation
from llmops.validation.types import Context, FunctionRule, Issue, Item, Severity

_METADATA_FIELDS = {"labels", "annotations", "name", "namespace", "finalizers", "ownerReferences"}


def _embedded(ctx: Context, item: Item) -> list[Violation]:
    """Violations of the resources a Tekton Triggers TriggerTemplate creates (its resourcetemplates).

    The Triggers CRDs carry no field schema, but what a template creates (PipelineRuns)
    has one: each template is checked as the resource it becomes.
    """
    if item.kind != "TriggerTemplate" or not str(item.resource.get("apiVersion", "")).startswith("triggers."):
        return []
    spec = item.resource.get("spec")
    templates = spec.get("resourcetemplates") if isinstance(spec, dict) else None
    found: list[Violation] = []
    for i, template in enumerate(templates if isinstance(templates, list) else []):
        if not isinstance(template, dict):
            continue
        prefix: tuple[str | int, ...] = ("spec", "resourcetemplates", i)
        for v in ctx.schema_set.violations(template) or []:
            found.append(Violation((*prefix, *v.path), v.message, v.unknown_field))
    return found


def _violations(ctx: Context) -> list[tuple[Item, list[Violation] | None]]:
    key = "schema.violations"
    if key not in ctx.memo:
        results: list[tuple[Item, list[Violation] | None]] = []
        for item in ctx.items:
            own = ctx.schema_set.violations(item.resource)
            embedded = _embedded(ctx, item)
            results.append((item, (own or []) + embedded if own is not None or embedded else own))
        ctx.memo[key] = results
    result: list[tuple[Item, list[Violation] | None]] = ctx.memo[key]
    return result


def _unknown_hint(v: Violation) -> str:
    if len(v.path) == 1 and v.unknown_field in _METADATA_FIELDS:
        return f"move `{v.unknown_field}:` under `metadata:` (it is ignored at the top level)"
    parent = ".".join(str(p) for p in v.path[:-1]) or "the top level"
    return (
        f"`{v.unknown_field}` is not a field of {parent}: check its spelling and indentation against the CRD"
    )


def check_unknown_fields(ctx: Context) -> Iterator[Issue]:
    for item, found in _violations(ctx):
        for v in found or []:
            if v.unknown_field is not None:
                yield ctx.issue(item, v.message, v.path, hint=_unknown_hint(v))


def check_invalid(ctx: Context) -> Iterator[Issue]:
    for item, found in _violations(ctx):
        for v in found or []:
            if v.unknown_field is None:
                yield ctx.issue(item, f"{v.dotted}: {v.message}", v.path)


def check_known_kind(ctx: Context) -> Iterator[Issue]:
    seen: set[tuple[str, str]] = set()
    for item, found in _violations(ctx):
        key = (str(item.resource.get("apiVersion", "")), item.kind)
        if found is None and key not in seen:
            seen.add(key)
            yield ctx.issue(item, f"no schema for {key[1]} ({key[0]}): it was not checked")


RULES = [
    FunctionRule(
        id="schema.unknown-field",
        severity=Severity.error,
        rationale="The API server silently drops unknown fields, so a misplaced key never takes effect.",
        hint="move the field to where the schema expects it, or fix its spelling",
        scope="resources",
        fn=check_unknown_fields,
    ),
    FunctionRule(
        id="schema.invalid",
        severity=Severity.error,
        rationale="A value of the wrong type or shape is rejected by the API server at sync time.",
        hint="fix the value to match the schema (kubectl explain KIND.FIELD shows it)",
        scope="resources",
        fn=check_invalid,
    ),
    FunctionRule(
        id="schema.unknown-kind",
        severity=Severity.warning,
        rationale="A resource without a schema is not checked at all.",
        hint="import its CRD: `llmops schemas import CRD.yaml` (or `llmops schemas pull` from a cluster)",
        scope="resources",
        fn=check_known_kind,
    ),
]
