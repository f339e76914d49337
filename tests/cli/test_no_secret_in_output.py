"""No secret reaches any output: every verb, every format, on a repository full of planted secrets.

Also the other ways hostile text used to break or abuse an output: terminal escapes and rich
markup in manifests, control characters in JUnit, an absurd kind in a schema lookup.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from testing.repos import edit, git

DEV = Path("deploy_model/overlays/dev")
BASE = Path("deploy_model/base")
PLANTED = {
    "S3CRET-PLAIN-TOKEN",  # stringData, as written
    "S3CRET-IN-A-LIST",  # stringData of the wrong type: the schema finding used to quote it
    "S3CRET-DECODED-PASSWORD",  # data, base64-encoded
    "S3CRET-LITERAL-ONE",  # secretGenerator literals: kustomize's error lists them
    "S3CRET-BARE-LITERAL",
    "S3CRET-FROM-ENV-FILE",  # secretGenerator env file
}


@pytest.fixture
def planted(gitops_repo: Path) -> Path:
    """The reference repository, committed, with secrets planted in the working tree."""
    encoded = base64.b64encode(b"S3CRET-DECODED-PASSWORD").decode()
    (gitops_repo / BASE / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: connection\ntype: Opaque\n"
        "stringData:\n  TOKEN: S3CRET-PLAIN-TOKEN\n  KEYS:\n    - S3CRET-IN-A-LIST\n"
        f"data:\n  PASSWORD: {encoded}\n",
        encoding="utf-8",
    )
    edit(
        gitops_repo / BASE / "kustomization.yaml",
        "  - inferenceservice.yaml\n",
        "  - inferenceservice.yaml\n  - secret.yaml\n",
    )
    (gitops_repo / DEV / "creds.env").write_text("API_KEY=S3CRET-FROM-ENV-FILE\n", encoding="utf-8")
    kfile = gitops_repo / DEV / "kustomization.yaml"
    kfile.write_text(
        kfile.read_text()
        + "secretGenerator:\n  - name: creds\n    envs: [creds.env]\n    literals:\n"
        + "      - password=S3CRET-LITERAL-ONE\n      - S3CRET-BARE-LITERAL\n",
        encoding="utf-8",
    )
    return gitops_repo


VERBS = [
    ["envs"],
    ["envs", "-o", "json"],
    ["render", "staging"],
    ["render", "staging", "-o", "json"],
    ["render", "dev"],
    ["validate"],
    *[["validate", "-o", fmt] for fmt in ("json", "junit", "sarif", "github")],
    *[["diff", "--base", "HEAD", "-o", fmt] for fmt in ("text", "markdown", "json")],
    ["promote", "dev", "staging", "--dry-run"],
    ["size", "dev"],
    ["size", "staging"],
]


@pytest.mark.parametrize("args", VERBS, ids=lambda a: " ".join(a))
def test_no_planted_secret_appears_in_any_verb_or_format(cli, planted: Path, args: list[str]) -> None:
    result = cli(*args, "--repo", planted)
    assert "internal error" not in result.err and "Traceback" not in result.err, result.err
    leaked = [s for s in PLANTED if s in result.out or s in result.err]
    assert leaked == [], (result.code, result.out[-2000:], result.err[-2000:])


def test_the_planted_secrets_are_still_found_and_named(cli, planted: Path) -> None:
    """Redaction hides values, not problems: the findings are all there."""
    result = cli("validate", "--repo", planted, "-o", "json")
    rules = {f["rule"] for f in result.json()["findings"] if f["severity"] == "error"}
    assert {"security.plaintext-secret", "schema.invalid", "build.overlay"} <= rules
    (overlay,) = [f for f in result.json()["findings"] if f["rule"] == "build.overlay"]
    assert "<redacted>" in overlay["message"] and "expected key=value" in overlay["message"]
    render = cli("render", "staging", "--repo", planted, "--show-secrets", "-o", "json")
    assert "S3CRET-PLAIN-TOKEN" in render.out  # asked for explicitly


ANSI = "\x1b[2J\x1b[31mALERT\x1b[0m"


def test_terminal_escapes_and_markup_from_manifests_are_shown_as_text(cli, gitops_repo: Path) -> None:
    edit(
        gitops_repo / BASE / "inferenceservice.yaml",
        "  annotations:\n",
        f'  annotations:\n    note: "{ANSI.encode("unicode_escape").decode()} [/oops] [bold]x"\n',
    )
    edit(gitops_repo / DEV / "environment.yaml", "minReplicas: 1", 'minReplicas: "\\e[5mone"')
    git(gitops_repo, "add", "-A")
    for args in (["validate"], ["validate", "-o", "github"], ["diff", "--base", "HEAD"], ["envs"]):
        result = cli(*args, "--repo", gitops_repo)
        assert "\x1b" not in result.out + result.err, args
        assert "internal error" not in result.err and "MarkupError" not in result.err, (args, result.err)
    table = cli("validate", "--repo", gitops_repo, "-e", "dev")
    assert "\\x1b[5mone" in table.out  # shown, harmless
    diff = cli("diff", "--base", "HEAD", "--repo", gitops_repo)
    assert "[/oops]" in diff.out


def test_junit_stays_well_formed_whatever_the_names_hold(cli, gitops_repo: Path) -> None:
    (gitops_repo / ".tekton/odd.yaml").write_text(
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "x\\x01\\x1b[31m"\ndata:\n  k: [1]\n',
        encoding="utf-8",
    )
    result = cli("validate", "--repo", gitops_repo, "-o", "junit")
    root = ET.fromstring(result.out.split("\n", 1)[1])
    details = [f.text or "" for f in root.iter("failure")]
    assert any("ConfigMap/x\\x01\\x1b[31m" in d for d in details), details


def test_an_absurd_kind_is_an_unknown_kind_not_a_crash(cli, gitops_repo: Path) -> None:
    for name, kind in (("long.yaml", "K" * 5000), ("path.yaml", "../../../../etc/passwd")):
        (gitops_repo / ".tekton" / name).write_text(
            f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: x\n", encoding="utf-8"
        )
    result = cli("validate", "--repo", gitops_repo, "-o", "json")
    assert "internal error" not in result.err
    unknown = [f for f in result.json()["findings"] if f["rule"] == "schema.unknown-kind"]
    assert {f["file"] for f in unknown} >= {".tekton/long.yaml", ".tekton/path.yaml"}
    assert not [f for f in result.json()["findings"] if "could not finish" in f["message"]]


def test_a_kustomize_error_holding_markup_is_printed_as_text(cli, gitops_repo: Path) -> None:
    edit(
        gitops_repo / DEV / "kustomization.yaml", "  - path: environment.yaml\n", "  - path: '[/oops].yaml'\n"
    )
    result = cli("diff", "--base", "HEAD", "--repo", gitops_repo)
    assert result.code == 2 and "Traceback" not in result.err and "internal error" not in result.err
    assert "does not exist (referenced from dev/kustomization.yaml)" in result.err
