"""Mutating commands are safe by default and configuration is strict: the defects of issue #10
that lost data or gave a silently wrong answer, each reproduced as a user met it."""

from __future__ import annotations

import importlib.util
import itertools
import re
import shlex
import shutil
from pathlib import Path

import click
import pytest
import yaml
from testing.cli import CliResult, parse_command_line
from testing.repos import OVERLAYS, WIDGET_CRD, branch, branches, edit, git, head

from llmops.errors import EXIT_ERROR, EXIT_FINDINGS
from llmops.serving import demo_model

ROOT = Path(__file__).resolve().parents[2]


def _one_error(result: CliResult, code: int) -> str:
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    errors = [i for i, ln in enumerate(lines) if ln.startswith("error:")]
    assert len(errors) == 1 and lines[errors[0] + 1].strip().startswith("hint:"), result.err
    return lines[errors[0]] + "\n" + lines[errors[0] + 1]


def _configure(repo: Path, change: dict) -> None:
    path = repo / "llmops.yaml"
    config = yaml.safe_load(path.read_text())
    for dotted, value in change.items():
        node = config
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "configure")


# -- D1: demo-model --force deletes only what it wrote ------------------------------------------


def test_d1_force_refuses_the_current_git_checkout_and_deletes_nothing(
    cli, gitops_repo: Path, monkeypatch
) -> None:
    monkeypatch.chdir(gitops_repo)
    before = sorted(p.relative_to(gitops_repo) for p in gitops_repo.rglob("*"))
    result = cli("demo-model", ".", "--force")
    assert "refusing to replace .: it is the current folder" in _one_error(result, EXIT_ERROR)
    assert sorted(p.relative_to(gitops_repo) for p in gitops_repo.rglob("*")) == before
    sub = gitops_repo / "deploy_model"
    monkeypatch.chdir(sub)
    assert "current folder or holds it" in _one_error(cli("demo-model", "..", "--force"), EXIT_ERROR)


def test_d1_force_refuses_a_git_work_tree_and_folders_llmops_did_not_write(
    cli, gitops_repo: Path, tmp_path: Path
) -> None:
    result = cli("demo-model", gitops_repo, "--force")
    assert "it is a git work tree" in _one_error(result, EXIT_ERROR)
    assert (gitops_repo / ".git").is_dir() and (gitops_repo / "llmops.yaml").is_file()
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("my own file")
    refused = cli("demo-model", mine, "--force")
    assert "llmops did not write it (no .llmops-demo-model.json)" in _one_error(refused, EXIT_ERROR)
    assert (mine / "todo.txt").read_text() == "my own file"


def test_d1_a_manifest_cannot_point_outside_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / demo_model.MANIFEST).write_text('{"files": ["config.json", "../victim", "/etc/passwd", ".."]}')
    assert demo_model.own_files(folder) == ["config.json"]


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "tokenizers")),
    reason="building the demo model needs the serve extra (torch, transformers, tokenizers)",
)
def test_d1_force_replaces_its_own_model_and_keeps_other_files(cli, tmp_path: Path) -> None:
    target = tmp_path / "demo"
    assert cli("demo-model", target).code == 0
    assert (target / demo_model.MANIFEST).is_file()
    (target / "notes.txt").write_text("kept")
    (target / "model.safetensors").write_bytes(b"stale")
    again = cli("demo-model", target, "--force", "--seed", "1")
    assert again.code == 0, again.err
    assert (target / "notes.txt").read_text() == "kept"  # not llmops' file: left alone
    assert (target / "model.safetensors").read_bytes() != b"stale"  # llmops' own file: replaced
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging leftovers


# -- D2: a release field that matches nothing is an error, not "nothing to promote" -------------


@pytest.mark.parametrize(
    ("field", "message", "suggestion"),
    [
        ({"kind": "InferenceService", "path": "spec.predictor.model.arg"}, "path 'spec.predictor.model.arg'",
         "did you mean 'spec.predictor.model.args'?"),
        ({"kind": "InferenceServce", "path": "spec.predictor.model.args"}, "kind 'InferenceServce'",
         "did you mean 'InferenceService'?"),
    ],
)  # fmt: skip
def test_d2_a_misspelt_release_field_is_an_error_naming_the_key(
    cli, gitops_repo: Path, field: dict, message: str, suggestion: str
) -> None:
    _configure(gitops_repo, {"release.fields": [field]})
    edit(gitops_repo / OVERLAYS / "dev/release.yaml", "--max-model-len=8192", "--max-model-len=16384")
    git(gitops_repo, "commit", "-qam", "dev: longer context")
    result = cli("promote", "dev", "staging", "--repo", gitops_repo)
    line = _one_error(result, EXIT_ERROR)
    assert "llmops.yaml release.fields[0]" in line and message in line and suggestion in line
    assert branches(gitops_repo) == ["main"]


def test_d2_the_default_fields_still_promote(cli, gitops_repo: Path) -> None:
    edit(gitops_repo / OVERLAYS / "dev/release.yaml", "--max-model-len=8192", "--max-model-len=16384")
    git(gitops_repo, "commit", "-qam", "dev: longer context")
    result = cli("promote", "dev", "staging", "--repo", gitops_repo)
    assert result.code == 0, result.err
    promoted = f"promote/staging-{head(gitops_repo)[:7]}:{OVERLAYS}/staging/release.yaml"
    assert "--max-model-len=16384" in git(gitops_repo, "show", promoted)


# -- D3: one vLLM argument parser, one verdict --------------------------------------------------


def test_d3_size_and_validate_give_a_misspelt_flag_the_same_verdict(cli, gitops_repo: Path) -> None:
    edit(gitops_repo / OVERLAYS / "dev/release.yaml", "--dtype=bfloat16", "--dtpye=bfloat16")
    size = cli("size", "dev", "--repo", gitops_repo)
    validate = cli("validate", "--repo", gitops_repo, "-e", "dev", "-o", "json")
    assert size.code == validate.code == EXIT_FINDINGS
    [finding] = [f for f in validate.json()["findings"] if f["rule"] == "serving.unknown-flag"]
    line = _one_error(size, EXIT_FINDINGS)
    assert finding["message"] in line and finding["hint"] in line
    assert "did you mean --dtype?" in finding["hint"]


def test_d3_flags_given_to_size_get_the_same_verdict_as_flags_in_a_release(cli, gitops_repo: Path) -> None:
    result = cli("size", "dev", "--repo", gitops_repo, "--", "--max-modle-len", "1")
    line = _one_error(result, EXIT_FINDINGS)
    assert "--max-modle-len is not a vLLM 0.32.0 option: vLLM exits at start-up" in line
    assert "did you mean --max-model-len?" in line


# -- D4: unknown keys in llmops.yaml are errors with the closest valid value --------------------


@pytest.mark.parametrize(
    ("change", "verb", "words"),
    [
        ({"validate.rules": {"security.model-digets": {"severity": "warning"}}}, "validate",
         ["validate.rules.security.model-digets", "did you mean 'security.model-digest'?"]),
        ({"validate.kubernetes_version": "1.99"}, "validate",
         ["validate.kubernetes_version: '1.99'", "did you mean '1.37'?"]),
        ({"smoke.environments": {"prod": {"url": "http://x:8080"}}}, "envs",
         ["smoke.environments.prod", "did you mean 'production'?"]),
        ({"bench.environments": {"stagin": {"max_requests": 5}}}, "envs",
         ["bench.environments.stagin", "did you mean 'staging'?"]),
        ({"validate.floating_revisions": {"prod": "tracks main"}}, "envs",
         ["validate.floating_revisions.prod", "did you mean 'production'?"]),
        ({"validate.cel_rules": [{"id": "team.x", "expression": "true", "environments": {"prod": "error"}}]},
         "envs", ["validate.cel_rules.0.environments.prod", "did you mean 'production'?"]),
        ({"valdate": {"paths": ["deploy_model"]}}, "envs",
         ["valdate: unknown key (did you mean 'validate'?)"]),
        ({"smoke.max_token": 5}, "envs", ["smoke.max_token: unknown key (did you mean 'max_tokens'?)"]),
        ({"bench.environments": {"staging": {"slo": {"ttft_p95": 500}}}}, "envs",
         ["bench.environments.staging.slo.ttft_p95: unknown key (did you mean 'ttft_p95_ms'?)"]),
    ],
)  # fmt: skip
def test_d4_unknown_names_in_llmops_yaml_are_errors(
    cli, gitops_repo: Path, change: dict, verb: str, words: list[str]
) -> None:
    _configure(gitops_repo, change)
    text = _one_error(cli(verb, "--repo", gitops_repo), EXIT_ERROR)
    for word in words:
        assert word in text


# -- D9, D14: promote says what the real run would do, and where it branches from ----------------


@pytest.fixture
def changed(gitops_repo: Path) -> Path:
    edit(gitops_repo / OVERLAYS / "dev/release.yaml", "--max-model-len=8192", "--max-model-len=16384")
    git(gitops_repo, "commit", "-qam", "dev: longer context")
    return gitops_repo


def test_d9_dry_run_says_when_the_branch_already_exists(cli, changed: Path) -> None:
    name = f"promote/staging-{head(changed)[:7]}"
    git(changed, "branch", name)
    result = cli("promote", "dev", "staging", "--dry-run", "--repo", changed)
    line = _one_error(result, EXIT_ERROR)
    assert f"dry run: the real run would refuse: branch {name} already exists" in line
    assert "+        - --max-model-len=16384" in result.out  # the diff is still shown
    real = cli("promote", "dev", "staging", "--repo", changed)
    assert real.code == EXIT_ERROR and f"branch {name} already exists" in real.err


def test_d14_promoting_from_an_unmerged_promotion_branch_warns(cli, changed: Path) -> None:
    assert cli("promote", "dev", "staging", "--repo", changed).code == 0
    assert branch(changed) == "main"  # the checkout does not move...
    on = f"promote/staging-{head(changed)[:7]}"
    git(changed, "switch", "-q", on)  # ...but "git switch BRANCH to look at it", as promote says
    result = cli("promote", "staging", "production", "--dry-run", "--repo", changed)
    assert result.code == 0, result.err
    assert f"warning: you are on {on}, a promotion branch that is not merged" in " ".join(result.err.split())
    assert "staging's release here is neither reviewed nor synced" in " ".join(result.err.split())
    git(changed, "switch", "-q", "main")
    quiet = cli("promote", "staging", "production", "--dry-run", "--repo", changed)
    assert "warning:" not in quiet.err


# -- D10: missing folders, empty and shallow repositories say what is wrong ----------------------


def test_d10_a_missing_applications_folder_is_named(cli, gitops_repo: Path) -> None:
    _configure(gitops_repo, {"applications": ["argo"]})
    envs = cli("envs", "--repo", gitops_repo)
    assert envs.code == 0
    assert "note: 'argo' (llmops.yaml applications:) does not exist" in " ".join(envs.err.split())
    render = cli("render", "dev", "--repo", gitops_repo)
    assert "argo does not exist; see applications: in llmops.yaml" in _one_error(render, EXIT_ERROR)
    shutil.rmtree(gitops_repo / "argocd")
    _configure(gitops_repo, {"applications": ["argocd"]})
    assert "'argocd' (llmops.yaml applications:) does not exist" in cli("envs", "--repo", gitops_repo).err


def test_d10_an_empty_repository_says_it_has_no_commit(cli, tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    result = cli("diff", "--base", "HEAD", "--repo", repo)
    assert "has no commit yet, so there is no 'HEAD'" in _one_error(result, EXIT_ERROR)


def test_d10_a_shallow_clone_says_to_fetch_more_history(cli, gitops_repo: Path, tmp_path: Path) -> None:
    (gitops_repo / "notes.txt").write_text("second commit\n")
    git(gitops_repo, "add", "notes.txt")
    git(gitops_repo, "commit", "-qm", "second")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{gitops_repo}", str(shallow))
    result = cli("diff", "--base", "HEAD~1", "--repo", shallow)
    assert "this is a shallow clone" in _one_error(result, EXIT_ERROR)
    assert "git fetch --unshallow" in result.err


# -- D13: the documentation's commands work as written -----------------------------------------


def test_d13_readme_lists_each_document_once() -> None:
    links = re.findall(r"^- \[(docs/[^\]]+)\]", (ROOT / "README.md").read_text(), flags=re.M)
    assert len(links) == len(set(links)), links
    assert "docs/performance.md" in links and "docs/reference-json.md" in links


def test_d13_demo_model_serves_with_the_line_the_guide_uses() -> None:
    from llmops.commands.demo_model import serve_command

    guide = " ".join((ROOT / "docs/guide-smoke-bench.md").read_text().replace("\\\n", " ").split())
    assert serve_command(Path("/tmp/demo")) in guide


def test_d13_the_hand_run_bench_command_fits_the_demo_server_with_the_shipped_config() -> None:
    from llmops.gitops.config import load_config

    text = (ROOT / "docs/performance.md").read_text()
    [line] = [ln for ln in text.splitlines() if ln.startswith("llmops bench staging --url")]
    args = line.split()
    config = load_config(ROOT).bench
    prompt = (
        int(args[args.index("--prompt-tokens") + 1]) if "--prompt-tokens" in args else config.prompt_tokens
    )
    output = (
        int(args[args.index("--output-tokens") + 1]) if "--output-tokens" in args else config.output_tokens
    )
    assert prompt + output <= 512  # the demo server's --max-model-len in the same document


def test_d13_schemas_import_tells_what_it_wrote_from_what_the_catalog_holds(cli, gitops_repo: Path) -> None:
    catalog = gitops_repo / "schemas"
    holds = len(list(catalog.glob("*.json")))
    (gitops_repo / "widgets.yaml").write_text(WIDGET_CRD)
    first = cli("schemas", "import", gitops_repo / "widgets.yaml", "--repo", gitops_repo)
    again = cli("schemas", "import", gitops_repo / "widgets.yaml", "--repo", gitops_repo)
    assert first.code == again.code == 0, first.err + again.err
    assert first.out == again.out == "wrote example.com_v1_Widget.json\n"
    told = [" ".join(r.err.split()) for r in (first, again)]
    assert f"wrote 1 schema(s) (1 new, 0 replaced); the catalog {catalog} now holds {holds + 1}" in told[0]
    assert f"wrote 1 schema(s) (0 new, 1 replaced); the catalog {catalog} now holds {holds + 1}" in told[1]


_SHELL_ENDS = frozenset({"|", "||", "&&", "&", ">", ";", "(", ")"})


def _documented_commands() -> list[tuple[str, list[str]]]:
    """Every ``llmops ...`` command line in the README, docs/ code blocks and the pipelines."""
    found: list[tuple[str, str]] = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        fenced, in_code, pending = False, False, ""
        for raw in doc.read_text().splitlines():
            if raw.startswith("```"):  # shell blocks only (```sh, ```bash or plain), not JSON/YAML
                fenced = not fenced
                in_code, pending = fenced and raw.strip("`") in ("", "sh", "bash", "shell"), ""
                continue
            if in_code:
                pending += raw.rstrip("\\") + " "
                if not raw.endswith("\\"):
                    found.append((doc.name, pending))
                    pending = ""
    for pipeline in [
        *sorted((ROOT / "pipelines").rglob("*.yaml")),
        *sorted((ROOT / ".tekton").glob("*.yaml")),
        *sorted((ROOT / "ci").rglob("*.yaml")),
        *sorted((ROOT / ".github" / "workflows").glob("*.yaml")),
    ]:
        found += [(pipeline.name, line) for line in pipeline.read_text().splitlines()]
    commands: list[tuple[str, list[str]]] = []
    for where, text in found:
        code = re.split(r"(?:^|\s)#(?:\s|$)", text, maxsplit=1)[0]  # a shell comment
        match = re.search(r"(?:^\s*|&& |\| |\$\(|; )(llmops .*)", code)
        if match is None or re.search("[─│▶◀┐┘]", code):  # not a command, or the README's diagram
            continue
        lexer = shlex.shlex(match.group(1), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:  # unbalanced quotes: the documented line itself is broken
            commands.append((where, ["--unbalanced-quotes-in", code]))
            continue
        args = list(itertools.takewhile(lambda t: t not in _SHELL_ENDS, tokens))
        if any(t.startswith(("[", "(", "<")) or t == "/" for t in args):
            continue  # a synopsis, not a command line
        commands.append((where, args[1:]))
    return commands


# Verbs the OpenShift guide documents for the engine issue (#11), which adds them (with
# --target cluster); their command lines are checked as soon as the verb exists.
PENDING_VERBS = frozenset({"status", "sync", "wait", "history", "rollback", "refresh", "up", "down"})


def test_d13_every_documented_command_line_parses() -> None:
    from llmops.cli import app

    commands = _documented_commands()
    assert len(commands) > 40  # the README tour, the guides, the pipelines
    failures = []
    for where, args in commands:
        verb = next((a for a in args if not a.startswith("-")), "")
        if verb in PENDING_VERBS and verb not in app.commands:
            continue
        try:
            parse_command_line(args)
        except click.ClickException as exc:
            failures.append(f"{where}: llmops {' '.join(args)}: {exc.format_message()}")
    assert not failures, "\n".join(failures)


# -- --output-file: written atomically, never out of the repository through a planted link -------


@pytest.mark.parametrize(
    "args",
    [["render", "dev"], ["envs"], ["diff", "--base", "HEAD", "-o", "markdown"], ["validate", "--list-rules"]],
    ids=" ".join,
)
def test_no_verb_writes_its_output_file_through_a_planted_link(
    cli, gitops_repo: Path, tmp_path: Path, args: list[str]
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (gitops_repo / "out").symlink_to(victim, target_is_directory=True)  # as a pull request could
    result = cli(*args, "--repo", gitops_repo, "--output-file", gitops_repo / "out/report")
    assert _one_error(result, EXIT_ERROR).startswith("error: output folder out leaves the repository")
    assert list(victim.iterdir()) == []
    fine = cli(*args, "--repo", gitops_repo, "--output-file", tmp_path / "elsewhere/report")
    assert fine.code == 0 and fine.out == "" and (tmp_path / "elsewhere/report").is_file()
