"""The engine's sources: checkouts and renders of one commit by several reconcilers at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from testing.engine import light_repo

from llmops.engine.paths import StatePaths, prepare
from llmops.engine.source import Sources
from llmops.gitops import git
from llmops.gitops.config import load_config


def test_applications_rendered_at_once_share_one_checkout_of_the_commit(tmp_path: Path) -> None:
    repo = light_repo(tmp_path / "light")
    paths = StatePaths(tmp_path / "state")
    prepare(paths)
    sources = Sources(repo, load_config(repo), paths)
    sha = git.head_commit(repo)
    overlays = ["deploy/overlays/dev", "deploy/overlays/staging"] * 3
    with ThreadPoolExecutor(max_workers=len(overlays)) as pool:
        renders = list(pool.map(lambda path: sources.render(path, "", sha), overlays))
    kinds = [sorted(str(r["kind"]) for r in rendered) for rendered in renders]
    assert kinds[0] and all(k == kinds[0] for k in kinds)
    work = [p.name for p in (paths.work).rglob("*") if p.parent.parent == paths.work]
    assert work == [sha]  # one checkout, no partial copy left behind
