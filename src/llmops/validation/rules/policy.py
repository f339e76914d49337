"""policy: what a change does to the gate itself, under ``validate --policy-from BASE``.

The run judges the change by the base revision's settings (llmops.yaml's gate, the
AppProjects, the schema catalog, yamllint's configuration); these rules show a reviewer
what the change would relax once merged. They are warnings by default: a change to the
gate may be right, but a person must see it. Make them errors (in llmops.yaml, on the
base branch) to require an explicit override instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from llmops.validation.types import Context, FunctionRule, Issue, Severity


def _changes(kind: str) -> Callable[[Context], Iterator[Issue]]:
    def check(ctx: Context) -> Iterator[Issue]:
        if ctx.policy is None:
            return
        for change in ctx.policy.changes:
            if change.kind == kind:
                yield Issue(message=change.message, resource=change.resource, location=change.location)

    return check


def _rule(kind: str, rationale: str, hint: str) -> FunctionRule:
    return FunctionRule(
        id=f"policy.{kind}",
        severity=Severity.warning,
        rationale=rationale,
        hint=hint,
        scope="repository",
        fn=_changes(kind),
    )


RULES = [
    _rule(
        "config",
        "A pull request must not relax the gate that judges it: llmops.yaml's gate settings come from "
        "the base branch, and a change to them needs a reviewer's eye.",
        "review the setting; it takes effect for the pull requests after this one merges",
    ),
    _rule(
        "suppression",
        "A suppression annotation hides a finding; added by the change it judges, it needs a reviewer.",
        "check the reason given; remove the annotation if the finding should block",
    ),
    _rule(
        "appproject",
        "Applications are judged against the base branch's AppProjects; a change that widens a project "
        "(repositories, destinations, kinds, roles) or drops a restriction (sync windows) needs review.",
        "make sure the project grants no more than the Applications need",
    ),
    _rule(
        "schemas",
        "The schema catalog decides what a valid resource is; the run uses the base branch's.",
        "re-import the CRDs with `llmops schemas import` and review the changed schemas",
    ),
    _rule(
        "pipeline",
        "The CI pipeline runs the gate; a change to it (or to yamllint's configuration) can skip or "
        "weaken it without any finding.",
        "review the pipeline change; protect the pipeline folder with CODEOWNERS or your CI's policy",
    ),
]
