"""`--debug` reaches the rule runner as an argument: a crashing rule raises, instead of becoming a finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.commands import validate as validate_cmd
from llmops.gitops.repo import Repository
from llmops.validation.types import Context, FunctionRule, Issue, Rule, Severity


class RuleBug(Exception):
    """What the broken rule below raises: nothing in llmops raises it."""


def _broken(ctx: Context) -> list[Issue]:
    raise RuleBug(f"cannot read spec.predictor in {ctx.environment}")


REGISTRY: dict[str, Rule] = {
    "test.broken": FunctionRule(
        id="test.broken",
        severity=Severity.warning,
        rationale="a rule with a bug",
        hint="fix the rule",
        scope="environment",
        fn=_broken,
    )
}


def test_with_debug_the_exception_of_a_crashing_rule_propagates(gitops_repo: Path) -> None:
    with pytest.raises(RuleBug, match=r"cannot read spec\.predictor in dev"):
        validate_cmd.run(Repository(gitops_repo), ["dev"], fmt="json", debug=True, registry=REGISTRY)


def test_without_debug_a_crashing_rule_is_an_error_finding(
    gitops_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = validate_cmd.run(Repository(gitops_repo), ["dev"], fmt="json", registry=REGISTRY)
    assert code == 1
    [finding] = json.loads(capsys.readouterr().out)["findings"]
    assert (finding["rule"], finding["severity"], finding["environment"]) == ("test.broken", "error", "dev")
    assert finding["message"] == "the rule could not finish: RuleBug: cannot read spec.predictor in dev"
    assert "rerun with --debug" in finding["hint"]


def test_the_environment_variable_does_not_turn_debug_on(
    gitops_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLMOPS_DEBUG", "1")  # the runner reads no environment: only its argument counts
    code = validate_cmd.run(Repository(gitops_repo), ["dev"], fmt="json", registry=REGISTRY)
    assert code == 1
    assert "the rule could not finish" in capsys.readouterr().out
