"""`llmops comment`: the diff as one sticky pull-request comment, against a local fake of GitHub's API.

The fake (testing/fake_github.py) runs on 127.0.0.1 in the test; the real GitHub is never called.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from testing.fake_github import MAX_BODY, Identity, fake_github
from testing.repos import OVERLAYS, commit, edit

from llmops.delivery.pr_comment import PullRequest, _next_page, marker
from llmops.support.http import Response

REPO = "acme/gitops"
TOKEN = "ghs_fake-installation-token-0123456789"
BOT = Identity("llmops-ci[bot]", bot=True)


def _change_dev(repo: Path, old: str, new: str) -> None:
    edit(repo / OVERLAYS / "dev/release.yaml", old, new)
    commit(repo, f"dev: {new}")


def _post(cli, repo: Path, url: str, *extra: str):  # type: ignore[no-untyped-def]
    return cli(
        "comment", "--base", "main", "--pr", "7", "--github-repo", REPO, "--api-url", url,
        "--repo", repo, *extra,
    )  # fmt: skip


@pytest.fixture
def pr_branch(gitops_repo: Path) -> Path:
    from testing.repos import git

    git(gitops_repo, "checkout", "-qb", "change")
    _change_dev(gitops_repo, "--max-model-len=8192", "--max-model-len=16384")
    return gitops_repo


def test_posting_twice_creates_one_comment_then_edits_it_in_place(
    cli, pr_branch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with fake_github({TOKEN: BOT}) as gh:
        first = _post(cli, pr_branch, gh.url, "-o", "json")
        assert first.code == 0, first.err
        assert first.json()["action"] == "created"
        (comment,) = gh.comments(REPO, 7)
        assert comment["body"].startswith(marker("diff") + "\n### llmops diff")
        assert "--max-model-len=16384" in comment["body"]

        _change_dev(pr_branch, "--max-model-len=16384", "--max-model-len=24576")  # a new push
        second = _post(cli, pr_branch, gh.url, "-o", "json")
        assert second.code == 0, second.err
        assert second.json()["action"] == "updated"
        assert second.json()["comment_id"] == comment["id"]
        (edited,) = gh.comments(REPO, 7)  # still one comment, now showing the new push
        assert "--max-model-len=24576" in edited["body"] and "16384" not in edited["body"]

        third = _post(cli, pr_branch, gh.url)
        assert third.code == 0 and "comment unchanged" in third.out
        assert gh.methods().count(f"PATCH /repos/acme/gitops/issues/comments/{comment['id']}") == 1
        assert len(gh.comments(REPO, 7)) == 1


def test_other_comments_with_the_marker_are_left_alone_and_later_pages_are_searched(
    cli, pr_branch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = Identity("mallory", bot=False)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with fake_github({TOKEN: BOT, "ghp_person": person}) as gh:
        # a person quoting the marker, and 150 ordinary comments: ours ends up on page 2
        gh.state.add_comment(REPO, 7, marker("diff") + "\nnot the bot's", person)
        for i in range(150):
            gh.state.add_comment(REPO, 7, f"review note {i}", person)
        assert _post(cli, pr_branch, gh.url).code == 0
        ours = gh.comments(REPO, 7)[-1]
        assert ours["user"]["login"] == BOT.login
        _change_dev(pr_branch, "--max-model-len=16384", "--max-model-len=4096")
        result = _post(cli, pr_branch, gh.url, "-o", "json")
        assert result.code == 0, result.err
        assert result.json() | {"action": "updated", "comment_id": ours["id"]} == result.json()
        assert gh.comments(REPO, 7)[0]["body"] == marker("diff") + "\nnot the bot's"
        assert len(gh.comments(REPO, 7)) == 152
        assert any("page=2" in path for _, path, _ in gh.state.requests)


def test_a_personal_token_finds_its_own_comment_by_login(
    cli, pr_branch: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("ghp_personal\n")
    with fake_github({"ghp_personal": Identity("release-bot-user", bot=False)}) as gh:
        assert _post(cli, pr_branch, gh.url, "--token-file", token_file).code == 0
        _change_dev(pr_branch, "--max-model-len=16384", "--max-model-len=2048")
        again = _post(cli, pr_branch, gh.url, "--token-file", token_file, "-o", "json")
        assert again.code == 0, again.err
        assert again.json()["action"] == "updated"
        assert len(gh.comments(REPO, 7)) == 1


def test_a_diff_too_big_for_one_comment_is_cut_and_says_so(
    cli, gitops_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testing.repos import git

    git(gitops_repo, "checkout", "-qb", "big")
    # 40 ConfigMaps of ~2,000 characters each in every environment: far over 65,536 characters
    blob = "\n".join(f"    line{i}: {'x' * 60}" for i in range(30))
    maps = "---\n".join(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big-{n}\ndata:\n{blob}\n" for n in range(40)
    )
    (gitops_repo / "deploy_model/base/big.yaml").write_text(maps)
    edit(
        gitops_repo / "deploy_model/base/kustomization.yaml",
        "  - smoke-job.yaml\n",
        "  - smoke-job.yaml\n  - big.yaml\n",
    )
    commit(gitops_repo, "many big ConfigMaps")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with fake_github({TOKEN: BOT}) as gh:  # the fake refuses bodies over 65,536 characters, as GitHub does
        result = _post(cli, gitops_repo, gh.url, "-o", "json")
        assert result.code == 0, result.err
        assert result.json()["truncated"] is True
        (comment,) = gh.comments(REPO, 7)
        assert 60_000 < len(comment["body"]) <= MAX_BODY
        assert "**Truncated:**" in comment["body"] and "llmops diff --base main" in comment["body"]
        # the summary table is always complete
        for env in ("dev", "staging", "production"):
            assert f"| {env} |" in comment["body"]


def test_the_token_never_appears_in_output_even_when_github_refuses_it(
    cli, pr_branch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with fake_github({}) as gh:  # the fake knows no token: 401 Bad credentials
        result = _post(cli, pr_branch, gh.url)
    assert result.code == 2
    assert result.error_lines == ["error: GitHub refused the token (GET /user: 401 Bad credentials)"]
    assert "git-provider-token" in result.err  # the hint says where the token comes from
    assert TOKEN not in result.out + result.err


def test_missing_token_pull_request_or_repository_are_one_line_errors(
    cli, pr_branch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    no_token = _post(cli, pr_branch, "http://127.0.0.1:9")
    assert no_token.code == 2 and no_token.error_lines == ["error: no GitHub token to post the comment with"]
    no_pr = cli("comment", "--base", "main", "--repo", pr_branch)
    assert no_pr.code == 2 and "--pr is missing" in no_pr.err
    bad_repo = cli("comment", "--base", "main", "--pr", "1", "--github-repo", "../etc", "--repo", pr_branch)
    assert bad_repo.code == 2 and "is not a GitHub repository name" in bad_repo.err


def test_dry_run_prints_the_comment_without_a_token(cli, pr_branch: Path) -> None:
    result = cli("comment", "--base", "main", "--dry-run", "--repo", pr_branch)
    assert result.code == 0, result.err
    assert result.out.startswith(marker("diff") + "\n### llmops diff")
    assert "--max-model-len=16384" in result.out


def test_a_next_page_link_to_another_host_is_not_followed() -> None:
    def resp(link: str) -> Response:
        return Response(status=200, reason="OK", method="GET", path="/x", text="[]", headers={"link": link})

    base = "https://api.github.com"
    assert _next_page(resp(f'<{base}/repositories/1/issues/2/comments?page=2>; rel="next"'), base) == (
        "/repositories/1/issues/2/comments?page=2"
    )
    assert _next_page(resp('<https://evil.example/steal?page=2>; rel="next"'), base) is None
    assert _next_page(resp('<https://api.github.com.evil.example/x>; rel="next"'), base) is None
    with pytest.raises(Exception, match="not a GitHub repository name"):
        PullRequest("acme/gitops/../../x", 1)
