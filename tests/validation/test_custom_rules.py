"""Rules of one's own: CEL rules in llmops.yaml and Python rules from an installed package's entry point.

They run in the same runner as the built-in rules: per-environment severity, the suppression
annotation, file:line, every report format, and `--list-rules` says where each comes from.
The Python rule comes from a real distribution (a dist-info with an ``llmops.rules`` entry
point) put on ``sys.path``, found by importlib.metadata as pip-installed packages are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import yaml
from testing.cli import CliResult
from testing.repos import commit, edit, line_of

PLUGIN = '''\
"""A team's rules, shipped as a package."""
from llmops.validation.types import FunctionRule, Severity


def _max_replicas(ctx):
    for item in ctx.of_kind("InferenceService"):
        top = item.resource.get("spec", {}).get("predictor", {}).get("maxReplicas", 0)
        if top > 1:
            yield ctx.issue(item, f"maxReplicas {top} is more than the GPU quota allows (1)",
                            ("spec", "predictor", "maxReplicas"))


RULES = [
    FunctionRule(
        id="acme.gpu-quota",
        severity=Severity.error,
        rationale="The team's GPU quota is one GPU per model.",
        hint="lower spec.predictor.maxReplicas to 1",
        scope="environment",
        fn=_max_replicas,
    )
]
'''

CEL_RULES = """\
  cel_rules:
    - id: team.min-replicas
      kinds: [InferenceService]
      expression: "object.spec.predictor.minReplicas >= 2"
      message_expression: >-
        'minReplicas is ' + string(object.spec.predictor.minReplicas) + ', the team runs two'
      hint: set spec.predictor.minReplicas to 2 in the overlay's environment.yaml
      severity: warning
      environments:
        staging: error
"""


def install_plugin(
    site: Path, body: str = PLUGIN, *, name: str = "acme_rules", value: str = "acme_rules:RULES"
) -> None:
    """A distribution as pip leaves it: the package and its dist-info with entry_points.txt."""
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(body, encoding="utf-8")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    dist = name.replace("_", "-")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[llmops.rules]\nacme = {value}\n", encoding="utf-8")


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    install_plugin(site)
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture
def team_repo(gitops_repo: Path) -> Path:
    """The reference repository with a CEL rule of the team's own in llmops.yaml."""
    edit(
        gitops_repo / "llmops.yaml",
        "  cel_rules:\n",
        CEL_RULES + "    # the reference's own rule follows\n",
        count=1,
    )
    text = (gitops_repo / "llmops.yaml").read_text(encoding="utf-8")
    (gitops_repo / "llmops.yaml").write_text(
        text.replace("    # the reference's own rule follows\n", ""), encoding="utf-8"
    )
    commit(gitops_repo, "team rules")
    return gitops_repo


def of(data: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in data["findings"] if f["rule"] == rule]


def test_a_cel_rule_in_llmops_yaml_fires_with_file_line_and_per_environment_severity(
    team_repo: Path, cli: Callable[..., CliResult]
) -> None:
    result = cli("validate", "--repo", team_repo, "-o", "json")
    assert result.code == 1
    found = {f["environment"]: f for f in of(result.json(), "team.min-replicas")}
    assert set(found) == {"dev", "staging"}  # production runs 2
    assert (found["dev"]["severity"], found["staging"]["severity"]) == ("warning", "error")
    assert found["staging"]["message"] == "minReplicas is 1, the team runs two"
    env_file = team_repo / "deploy_model/overlays/staging/environment.yaml"
    assert found["staging"]["file"] == "deploy_model/overlays/staging/environment.yaml"
    assert found["staging"]["line"] == line_of(env_file, "  minReplicas:")
    assert found["staging"]["hint"] == "set spec.predictor.minReplicas to 2 in the overlay's environment.yaml"


def test_the_suppression_annotation_and_llmops_yaml_settings_apply_to_cel_rules(
    team_repo: Path, cli: Callable[..., CliResult]
) -> None:
    edit(
        team_repo / "deploy_model/overlays/staging/environment.yaml",
        "  annotations:\n",
        '  annotations:\n    llmops.io/suppress: "team.min-replicas: staging shares one GPU until Q3"\n',
    )
    data = cli("validate", "--repo", team_repo, "--env", "staging", "-o", "json").json()
    [staging] = of(data, "team.min-replicas")
    assert staging["suppressed"] == "staging shares one GPU until Q3"
    edit(
        team_repo / "llmops.yaml",
        "  rules:\n",
        "  rules:\n    team.min-replicas:\n      disabled: true\n      reason: trial\n",
    )
    data = cli("validate", "--repo", team_repo, "--env", "dev", "-o", "json").json()
    assert not of(data, "team.min-replicas") and data["disabled"]["team.min-replicas"] == "trial"


def test_a_broken_cel_rule_is_reported_at_its_line_in_llmops_yaml(
    team_repo: Path, cli: Callable[..., CliResult]
) -> None:
    edit(
        team_repo / "llmops.yaml",
        '"object.spec.predictor.minReplicas >= 2"',
        '"object.spec.predictor.minReplicas.isSorted( >= 2"',
    )
    data = cli("validate", "--repo", team_repo, "--env", "dev", "-o", "json").json()
    [broken] = of(data, "team.min-replicas")
    assert broken["severity"] == "error" and "does not parse" in broken["message"]
    assert (broken["file"], broken["line"]) == (
        "llmops.yaml",
        line_of(team_repo / "llmops.yaml", "isSorted( >= 2"),
    )


def test_an_entry_point_rule_runs_like_a_built_in_one(
    gitops_repo: Path, plugin: Path, cli: Callable[..., CliResult]
) -> None:
    result = cli("validate", "--repo", gitops_repo, "-o", "json")
    assert result.code == 1
    [finding] = of(result.json(), "acme.gpu-quota")
    assert finding["environment"] == "production" and finding["severity"] == "error"
    assert finding["message"] == "maxReplicas 2 is more than the GPU quota allows (1)"
    env_file = gitops_repo / "deploy_model/overlays/production/environment.yaml"
    assert (finding["file"], finding["line"]) == (
        "deploy_model/overlays/production/environment.yaml",
        line_of(env_file, "  maxReplicas:"),
    )


def test_every_format_carries_policy_cel_and_entry_point_findings(
    team_repo: Path, plugin: Path, cli: Callable[..., CliResult]
) -> None:
    edit(team_repo / "deploy_model/overlays/production/environment.yaml", "minReplicas: 2", "minReplicas: 1")
    wanted = {"acme.gpu-quota", "team.min-replicas", "policy/llmops-production-replicas"}
    data = cli("validate", "--repo", team_repo, "--env", "production", "-o", "json").json()
    located = {f["rule"]: f"{f['file']}:{f['line']}" for f in data["findings"] if f["rule"] in wanted}
    assert set(located) == wanted
    env_file = "deploy_model/overlays/production/environment.yaml"
    assert (
        located["policy/llmops-production-replicas"]
        == f"{env_file}:{line_of(team_repo / env_file, '  minReplicas:')}"
    )

    table = cli("validate", "--repo", team_repo, "--env", "production")
    assert table.code == 1
    flat = re.sub(r"\s+", " ", table.out)
    for rule in wanted:
        assert rule in flat and located[rule] in flat  # the rule and its file:line (columns never wrap)

    sarif = cli("validate", "--repo", team_repo, "--env", "production", "-o", "sarif").json()
    results = {r["ruleId"]: r for r in sarif["runs"][0]["results"]}
    driver_rules = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    for rule in wanted:
        loc = results[rule]["locations"][0]["physicalLocation"]
        assert f"{loc['artifactLocation']['uri']}:{loc['region']['startLine']}" == located[rule]
        assert rule in driver_rules

    junit = cli("validate", "--repo", team_repo, "--env", "production", "-o", "junit")
    root = ET.fromstring(junit.out.split("\n", 1)[1])
    cases = {c.get("name"): c for c in root.iter("testcase")}
    failed = {name for name, c in cases.items() if c.find("failure") is not None}
    assert failed >= {"acme.gpu-quota", "policy/llmops-production-replicas"}  # the errors fail their case
    assert f"[warning] {located['team.min-replicas']}" in str(
        cases["team.min-replicas"].findtext("system-out")
    )

    github = cli("validate", "--repo", team_repo, "--env", "production", "-o", "github").out
    level = {rule: "error" for rule in wanted} | {"team.min-replicas": "warning"}  # a warning in production
    for rule in wanted:
        file, line = located[rule].split(":")
        pattern = rf"::{level[rule]} file={re.escape(file)},line={line},col=\d+,title={re.escape(rule)} "
        assert re.search(pattern, github)

    as_yaml = yaml.safe_load(cli("validate", "--repo", team_repo, "--env", "production", "-o", "yaml").out)
    assert wanted <= {f["rule"] for f in as_yaml["findings"]}


def test_list_rules_says_where_each_rule_comes_from(
    team_repo: Path, plugin: Path, cli: Callable[..., CliResult]
) -> None:
    result = cli("validate", "--repo", team_repo, "--list-rules", "-o", "json")
    assert result.code == 0
    origins = {r["id"]: r["origin"] for r in json.loads(result.out)}
    assert origins["security.gpu-request-limit"] == "built-in (llmops.validation.rules.security)"
    assert origins["team.min-replicas"] == "llmops.yaml validate.cel_rules[0]"
    assert origins["acme.gpu-quota"] == "entry point acme = acme_rules:RULES (acme-rules 1.0)"
    assert (
        origins["policy/llmops-model-registries"]
        == "ValidatingAdmissionPolicy in policies/model-registries.yaml"
    )
    as_yaml = yaml.safe_load(cli("validate", "--repo", team_repo, "--list-rules", "-o", "yaml").out)
    assert {r["id"]: r["origin"] for r in as_yaml} == origins
    [team] = [r for r in as_yaml if r["id"] == "team.min-replicas"]
    assert team["severity"] == "warning" and team["environments"] == {"staging": "error"}
    table = re.sub(r"\s+", " ", cli("validate", "--repo", team_repo, "--list-rules").out)
    assert "acme.gpu-quota" in table and "entry point acme" in table
    refused = cli("validate", "--repo", team_repo, "--list-rules", "-o", "sarif")
    assert refused.code == 2 and "--list-rules prints table, json or yaml" in refused.err


def test_a_plugin_that_cannot_load_or_reuses_an_id_is_reported_not_fatal(
    gitops_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., CliResult]
) -> None:
    site = tmp_path / "site"
    install_plugin(site, "import no_such_module_here\n", name="broken_rules", value="broken_rules:RULES")
    install_plugin(site, PLUGIN.replace("acme.gpu-quota", "security.privileged"), name="clash_rules",
                   value="clash_rules:RULES")  # fmt: skip
    monkeypatch.syspath_prepend(str(site))
    result = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", "json")
    assert result.code == 1
    messages = [f["message"] for f in of(result.json(), "custom.entry-point")]
    assert any("could not be loaded: ModuleNotFoundError" in m and "broken-rules 1.0" in m for m in messages)
    assert any("rule id security.privileged is already used by a built-in rule" in m for m in messages)
