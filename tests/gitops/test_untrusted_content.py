"""A repository written by anyone who can open a pull request: paths, YAML budget, kustomize limits.

Real git repositories, real kustomize; every case here was reproduced against the code before
its fix (issue 17).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from testing import servers
from testing.hostile import alias_bomb
from testing.repos import edit, git

from llmops.gitops import kustomize, manifests
from llmops.gitops.config import Limits
from llmops.gitops.limits import applied
from llmops.gitops.render import _workers
from llmops.support import processes

DEV = Path("deploy_model/overlays/dev")
BASE = Path("deploy_model/base")
MARKER = "stolen-from-outside-the-repository"


def add_resource(repo: Path, folder: Path, name: str, text: str) -> None:
    (repo / folder / name).write_text(text, encoding="utf-8")
    kfile = repo / folder / "kustomization.yaml"
    kfile.write_text(kfile.read_text() + f"\n# added by the test\nresources:\n  - {name}\n", encoding="utf-8")


def add_base_resource(repo: Path, name: str, text: str) -> None:
    (repo / BASE / name).write_text(text, encoding="utf-8")
    edit(
        repo / BASE / "kustomization.yaml",
        "  - inferenceservice.yaml\n",
        f"  - inferenceservice.yaml\n  - {name}\n",
    )


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the repository, holding what no render may read."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text("resources:\n  - cm.yaml\n", encoding="utf-8")
    (folder / "cm.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\ndata:\n  k: {MARKER}\n",
        encoding="utf-8",
    )
    return folder


# -- paths ------------------------------------------------------------------------------------


def test_an_application_path_outside_the_repository_is_refused_and_reported(
    cli, gitops_repo: Path, outside: Path
) -> None:
    rel = Path("../" * 6).joinpath(*outside.parts[1:]).as_posix()
    edit(
        gitops_repo / "argocd/applications/llmops-dev.yaml", "path: deploy_model/overlays/dev", f"path: {rel}"
    )
    edit(gitops_repo / "argocd/applications/llmops-dev.yaml", "environment: dev", "environment: dev")
    result = cli("render", "llmops-dev", "--repo", gitops_repo)
    assert result.code == 2
    assert "outside the repository" in result.err and MARKER not in result.out + result.err
    report = cli("validate", "--repo", gitops_repo, "-o", "json")
    assert report.code == 1 and MARKER not in report.out
    rules = {(f["rule"], f["environment"]) for f in report.json()["findings"] if f["severity"] == "error"}
    assert ("paths.outside-repository", "(repository)") in rules
    assert ("build.overlay", "dev") in rules


def test_a_linked_folder_outside_the_repository_does_not_pass_the_gate(
    cli, gitops_repo: Path, outside: Path
) -> None:
    (gitops_repo / "deploy_model/shared").symlink_to(outside, target_is_directory=True)
    kfile = gitops_repo / DEV / "kustomization.yaml"
    edit(kfile, "  - ../../base\n", "  - ../../base\n  - ../../shared\n")
    result = cli("validate", "--repo", gitops_repo, "-e", "dev", "-o", "json")
    assert result.code == 1
    assert MARKER not in result.out
    found = [
        f for f in result.json()["findings"] if f["rule"] in ("paths.outside-repository", "build.overlay")
    ]
    assert {f["rule"] for f in found} == {"paths.outside-repository", "build.overlay"}
    assert any("deploy_model/shared" in f["message"] for f in found)


def test_a_linked_file_outside_the_repository_is_reported_and_never_read(
    cli, gitops_repo: Path, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"apiVersion: v1\nkind: Config\nusers:\n  - name: admin\n    token: {MARKER}\n")
    (gitops_repo / "argocd/cluster.yaml").symlink_to(kubeconfig)
    result = cli("validate", "--repo", gitops_repo, "-o", "json")
    assert result.code == 1 and MARKER not in result.out
    (finding,) = [f for f in result.json()["findings"] if f["rule"] == "paths.outside-repository"]
    assert finding["file"] == "argocd/cluster.yaml" and str(kubeconfig) in finding["message"]


def test_a_report_is_not_written_through_a_planted_link(cli, gitops_repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.mkdir()
    (gitops_repo / "reports").symlink_to(target, target_is_directory=True)
    result = cli(
        "validate", "--repo", gitops_repo, "-o", "json", "--output", gitops_repo / "reports/out.json"
    )
    assert result.code == 2 and "leaves the repository" in result.err
    assert list(target.iterdir()) == []


# -- the YAML budget --------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_before_kustomize_sees_it(cli, gitops_repo: Path) -> None:
    add_base_resource(gitops_repo, "bomb.yaml", alias_bomb("bomb", 8))
    result = cli("validate", "--repo", gitops_repo, "-e", "dev", "-o", "json")
    assert result.code == 1
    findings = result.json()["findings"]
    budget = [f for f in findings if f["rule"] == "yaml.budget"]
    assert budget and "aliases expand to more than 100,000" in budget[0]["message"]
    assert budget[0]["file"] == "deploy_model/base/bomb.yaml"
    (overlay,) = [f for f in findings if f["rule"] == "build.overlay"]
    assert "bomb.yaml" in overlay["message"] and "not started" not in overlay["message"]


def test_an_alias_bomb_in_a_release_file_is_refused_by_promote(cli, gitops_repo: Path) -> None:
    release = gitops_repo / DEV / "release.yaml"
    release.write_text(release.read_text() + "---\n" + alias_bomb("bomb", 8), encoding="utf-8")
    git(gitops_repo, "commit", "-qam", "bomb")
    result = cli("promote", "dev", "staging", "--dry-run", "--repo", gitops_repo)
    assert result.code == 2
    assert result.error_lines == [
        "error: deploy_model/overlays/dev/release.yaml: YAML aliases expand to more than 100,000 extra "
        "nodes (limits.yaml_alias_nodes): refused before anything expands them"
    ]


def test_a_huge_yaml_file_is_a_finding_not_an_hour_of_work(cli, gitops_repo: Path) -> None:
    config = gitops_repo / "llmops.yaml"
    config.write_text(config.read_text() + "limits:\n  yaml_file_mib: 1\n", encoding="utf-8")
    big = gitops_repo / "argocd/big.yaml"
    big.write_text("items:\n" + "  - value: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" * 80_000, encoding="utf-8")
    result = cli("validate", "--repo", gitops_repo, "-o", "json")
    assert result.code == 1
    (finding,) = [f for f in result.json()["findings"] if f["rule"] == "yaml.budget"]
    assert finding["file"] == "argocd/big.yaml"
    assert (
        "over the limit of 1 MiB for one YAML file (limits.yaml_file_mib): not checked" in finding["message"]
    )
    assert not [
        f for f in result.json()["findings"] if f["file"] == "argocd/big.yaml" and f["rule"] != "yaml.budget"
    ]


def test_the_run_stops_reading_at_its_total_budget(cli, gitops_repo: Path) -> None:
    config = gitops_repo / "llmops.yaml"
    config.write_text(config.read_text() + "limits:\n  validate_total_mib: 0.02\n", encoding="utf-8")
    result = cli("validate", "--repo", gitops_repo, "-o", "json")
    refused = [f for f in result.json()["findings"] if f["rule"] == "yaml.budget"]
    assert refused and all("limits.validate_total_mib" in f["message"] for f in refused)
    assert result.code == 1


def test_a_render_over_its_memory_limit_is_a_clear_finding(cli, gitops_repo: Path) -> None:
    config = gitops_repo / "llmops.yaml"
    limits = "limits:\n  yaml_alias_nodes: 100000000\n  kustomize_memory_mib: 128\n"
    config.write_text(config.read_text() + limits, encoding="utf-8")
    add_base_resource(gitops_repo, "bomb.yaml", alias_bomb("bomb", 6))
    result = cli("validate", "--repo", gitops_repo, "-e", "dev", "-o", "json")
    assert result.code == 1
    (overlay,) = [f for f in result.json()["findings"] if f["rule"] == "build.overlay"]
    assert "exceeded 128 MiB of memory (limits.kustomize_memory_mib)" in overlay["message"]


def test_a_child_over_its_cpu_time_or_wall_clock_is_stopped() -> None:
    if sys.platform != "linux":
        pytest.skip("CPU-time limits are set with prlimit, which only Linux has")
    busy = processes.run([sys.executable, "-c", "while True: pass"], limits=processes.Limits(cpu_s=1))
    assert busy.cpu_exceeded and not busy.timed_out
    idle = processes.run(
        [sys.executable, "-c", "import time; time.sleep(60)"], limits=processes.Limits(timeout_s=0.5)
    )
    assert idle.timed_out and processes.running() == []


def test_concurrent_builds_are_bounded_by_memory_too() -> None:
    with applied(Limits(kustomize_memory_mib=10**9)):  # more than any machine has: one at a time
        assert _workers(8) == 1
    with applied(Limits()):
        assert 1 <= _workers(8) <= 8


def test_the_yaml_budget_counts_what_aliases_add() -> None:
    with pytest.raises(manifests.YamlBudgetError):
        manifests.parse_documents(alias_bomb("b", 6), "b.yaml")
    anchors = "base: &b {image: x, args: [a, b]}\none: *b\ntwo: *b\n"
    assert manifests.parse_documents(anchors, "ok.yaml")[0]["two"]["args"] == ["a", "b"]


# -- kustomize's errors -----------------------------------------------------------------------


def test_a_kustomize_error_is_kept_whole_with_the_cause_first(cli, gitops_repo: Path) -> None:
    base = gitops_repo / BASE / "kustomization.yaml"
    edit(base, "resources:\n", "resources:\n  - ../overlays/dev\n")
    result = cli("render", "dev", "--repo", gitops_repo)
    assert result.code == 2
    (line,) = result.error_lines
    assert line.startswith("error: kustomize failed on ")
    message = line.split(": ", 2)[2]
    assert message.startswith("cycle detected: candidate root"), message
    assert "(kustomize: accumulating resources" in message and len(line) > 400


def test_a_remote_resource_whose_host_never_answers_fails_fast_naming_it(cli, gitops_repo: Path) -> None:
    config = gitops_repo / "llmops.yaml"
    config.write_text(config.read_text() + "limits:\n  remote_timeout_s: 1\n", encoding="utf-8")
    with servers.unanswered() as port:
        add_resource(gitops_repo, DEV, "remote.yaml", "")
        kfile = gitops_repo / DEV / "kustomization.yaml"
        edit(kfile, "  - remote.yaml\n", f"  - http://127.0.0.1:{port}/manifests.yaml\n")
        result = cli("render", "dev", "--repo", gitops_repo)
    assert result.code == 2
    assert f"needs the remote resource http://127.0.0.1:{port}/manifests.yaml" in result.err
    assert f"127.0.0.1:{port} did not answer within 1s" in result.err


def test_an_unresolvable_remote_host_is_named() -> None:
    assert kustomize.remote_host("https://github.com/org/repo//base?ref=v1") == ("github.com", 443)
    assert kustomize.remote_host("github.com/org/repo/base?ref=v1") == ("github.com", 443)
    assert kustomize.remote_host("git@gitlab.com:org/repo.git") == ("gitlab.com", 22)
    assert (
        kustomize._probe("host.invalid", 443, 5)
        == "cannot resolve host host.invalid (offline, or the name is wrong)"
    )
