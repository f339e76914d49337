"""``llmops patch ENV KIND/NAME --type merge|json -p JSON``: change a live object of the embedded engine,
the local counterpart of ``oc patch``. The change takes effect on the runtime (a changed vLLM
argument restarts the process with it) and is drift: a self-healing environment reverts it, the
others report it as OutOfSync until synced."""

from __future__ import annotations

from llmops.commands import appviews, console
from llmops.engine.client import connect
from llmops.errors import EXIT_OK
from llmops.gitops.repo import Repository


def run(
    repo: Repository,
    selector: str,
    ref: str,
    *,
    patch_type: str,
    patch: str,
    field_manager: str,
    fmt: str = "text",
) -> int:
    driver = connect(repo)
    obj = driver.patch(selector, ref, patch_type, patch, field_manager)
    if fmt in ("json", "yaml"):
        console.plain(appviews.dump(obj, fmt))
    else:
        version = (obj.get("metadata") or {}).get("resourceVersion", "?")
        console.stdout.print(f"{console.safe(ref)} patched (resourceVersion {version})")
    return EXIT_OK
