"""The package keeps the layering of docs/architecture.md, and the contracts that say so bind."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from testing.repos import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(src: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.skip("import-linter is not installed (test extra)")
    only = [arg for c in contracts for arg in ("--contract", c)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *only, str(ROOT / ".importlinter")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(src), "PATH": str(Path(sys.executable).parent)},
        check=False,
    )


def _contract_count() -> int:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    return sum(1 for s in parser.sections() if s.startswith("importlinter:contract:"))


def test_imports_flow_one_way() -> None:
    proc = _lint_imports(ROOT / "src")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"{_contract_count()} kept, 0 broken" in proc.stdout


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package to plant forbidden imports in."""
    dest = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "src" / "llmops", dest / "llmops", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("gitops/render.py", "from llmops.validation import runner", "layers"),  # upward
        ("delivery/diff.py", "from llmops.probes import smoke", "layers"),  # sideways, between siblings
        ("validation/rules/build.py", "from llmops.validation.rules import security", "rule-families"),
        ("commands/diff.py", "from llmops.commands import promote", "commands"),
        ("gitops/git.py", "import httpx", "http-seam"),
        ("serving/sizing.py", "import torch", "torch-seam"),
        ("probes/smoke.py", "from rich.console import Console", "console-seam"),
        ("delivery/promote.py", "import click", "cli-seam"),
        ("gitops/repo.py", "import fastapi", "web-seam"),
        ("validation/admission.py", "import celpy", "cel-seam"),
        ("cluster/driver.py", "import lightkube", "kube-client-seam"),  # the cluster, but not its seam
        ("commands/bootstrap.py", "import httpx2", "kube-client-seam"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    package_copy: Path, module: str, planted: str, contract: str
) -> None:
    target = package_copy / "llmops" / module
    original = target.read_text(encoding="utf-8")
    target.write_text(original + f"\n{planted}  # planted by the test\n", encoding="utf-8")
    try:
        proc = _lint_imports(package_copy, contract)
        assert proc.returncode != 0, f"{contract} kept despite `{planted}` in {module}"
        assert "0 kept, 1 broken" in proc.stdout
    finally:
        target.write_text(original, encoding="utf-8")
    # ...and the same contract holds on the untouched copy, so the planted line made the difference
    assert _lint_imports(package_copy, contract).returncode == 0
