"""Regenerate the built-in CRD schema catalog (src/llmops/validation/data/schemas/) from real CRDs.

    python scripts/import_builtin_schemas.py [CRD_FOLDER]     # default: ../shared/crds

The folder must hold the CRD YAML files and a SOURCES.md table naming, for each file,
its upstream repository, path and commit; they are recorded in SOURCES.json beside the
schemas. tests/validation/test_builtin_schemas.py checks the shipped files equal a fresh import.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from llmops.validation.builtin_schemas import import_folder
from llmops.validation.catalog import BUILTIN_DIR

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    crds = Path(argv[0]) if argv else ROOT.parent / "shared" / "crds"
    if not crds.is_dir():
        print(f"{crds} is not a folder of CRDs", file=sys.stderr)
        return 2
    target = ROOT / "src/llmops/validation/data/schemas"
    if target.resolve() != BUILTIN_DIR:
        print(f"note: the imported llmops is {BUILTIN_DIR}, writing {target}", file=sys.stderr)
    shutil.rmtree(target, ignore_errors=True)
    written = import_folder(crds, target)
    print(f"{len(written) - 1} schema(s) and SOURCES.json -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
