"""The package keeps the layering docs/architecture.md describes (cli -> commands -> capabilities -> core)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from testing.repos import ROOT


def test_imports_flow_one_way() -> None:
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.exists() and shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed (test extra)")
    proc = subprocess.run(
        [str(exe if exe.exists() else "lint-imports"), "--config", str(ROOT / ".importlinter")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": str(Path(sys.executable).parent)},
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout
