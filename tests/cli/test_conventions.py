"""One convention for every verb: help with examples, one-line errors, exit codes, NO_COLOR,
80 columns, a closed pipe, Ctrl-C, shell completion, progress only on a terminal.

The verb list is read from the CLI itself, so a verb added later is held to the same rules.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import pty
import re
import select
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import pytest
from testing import fleet, httpd
from testing.cli import CliResult, command, parse_command_line, process_env
from testing.repos import OVERLAYS, edit, git, reference_repo

from llmops.cli import app
from llmops.errors import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_FINDINGS, EXIT_INTERRUPTED

ESC = "\x1b["


def _verbs() -> list[tuple[str, ...]]:
    """Every verb and sub-verb (``schemas import``), as the CLI registers them."""
    out: list[tuple[str, ...]] = []
    for name, cmd in app.commands.items():
        if isinstance(cmd, click.Group):
            out += [(name, sub) for sub in cmd.commands]
        else:
            out.append((name,))
    return out


def _shape(result: CliResult, code: int) -> str:
    """One ``error:`` line, then one ``hint:`` line, the exit code, no traceback; the error line."""
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, result.err
    after = lines[lines.index(errors[0]) + 1 :]
    assert after and after[0].strip().startswith("hint:") and len(after[0].strip()) > len("hint: "), (
        result.err
    )
    return errors[0]


def _tree(root: Path) -> dict[str, str]:
    """Content hashes of a work tree (``.git`` aside), to prove a command changed nothing."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


# -- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", _verbs(), ids=" ".join)
def test_every_verb_has_short_help_with_examples_and_the_output_options(cli, verb: tuple[str, ...]) -> None:
    result = cli(*verb, "-h")
    assert result.code == 0, result.err
    assert result.out.startswith(f"Usage: llmops {' '.join(verb)}")
    assert "Examples:" in result.out and "  llmops " in result.out.split("Examples:", 1)[1]
    assert "<bool>" not in result.out
    if verb != ("completion",):  # a shell script, not data
        assert "-o, --format, --output FORMAT" in result.out
        assert "--output-file PATH" in result.out


@pytest.mark.parametrize("verb", _verbs(), ids=" ".join)
def test_every_example_in_the_help_is_a_command_line_that_parses(cli, verb: tuple[str, ...]) -> None:
    text = cli(*verb, "-h").out.split("Examples:", 1)[1].replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if "llmops " in ln]
    assert lines
    for line in lines:
        code = re.split(r"\s#\s", line, maxsplit=1)[0]  # the comment
        lexer = shlex.shlex(code[code.index("llmops ") :], posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(itertools.takewhile(lambda w: w not in ("|", ">", "<", ")", "&&", ";"), lexer))
        try:
            parse_command_line(words[1:])
        except click.ClickException as exc:
            pytest.fail(f"{line}: {exc.format_message()}")


def test_root_help_documents_the_exit_codes_once(cli) -> None:
    result = cli("-h")
    text = " ".join(result.out.split())
    assert (
        "0 ok, 1 findings or failed checks, 2 could not run, 130 interrupted, 141 output pipe closed, "
        "143/129 terminated (SIGTERM/SIGHUP)" in text
    )
    table = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"
    rows = re.findall(r"^\| ([\d, ]+) \|", table.read_text(), flags=re.M)
    assert rows == ["0", "1", "2", "130", "141", "143, 129"]


# -- bad input: one error line, one hint, the documented code, nothing written ------------------


@pytest.fixture
def changed_repo(gitops_repo: Path) -> Path:
    """The reference repository with a committed change in dev's release (something to promote)."""
    edit(gitops_repo / OVERLAYS / "dev/release.yaml", "--max-model-len=8192", "--max-model-len=16384")
    git(gitops_repo, "commit", "-qam", "dev: longer context")
    return gitops_repo


BAD_INPUT = [
    # (arguments, exit code, words of the error line); {repo} and {tmp} are filled in
    (["render", "dev", "-o", "yml"], EXIT_ERROR, "'yml' is not one of"),
    (["render", "qa"], EXIT_ERROR, "unknown environment or application 'qa'"),
    (["envs", "--repo", "{tmp}/nope"], EXIT_ERROR, "does not exist"),
    (["validate", "-o", "report.sarif"], EXIT_ERROR, "use --output-file PATH"),
    (["validate", "--base", "main"], EXIT_ERROR, "--base only applies with --changed-only"),
    (["validate", "--changed-only", "--base", "nope"], EXIT_ERROR, "unknown git revision 'nope'"),
    (["schemas", "import", "{repo}/llmops.yaml"], EXIT_ERROR, "is not a CustomResourceDefinition"),
    (["diff", "--base", "HEAD", "--max-chars", "10"], EXIT_ERROR, "10 is not in the range x>=1000"),
    (["promote", "dev", "qa"], EXIT_ERROR, "unknown environment 'qa'"),
    (["promote", "dev", "staging", "--branch", "bad..lock"], EXIT_ERROR, "not a valid git branch name"),
    (["size", "--model", "acme/giant-9000", "--gpu", "L4"], EXIT_ERROR, "unknown model 'acme/giant-9000'"),
    (["size", "dev", "--", "--max-modle-len", "1"], EXIT_FINDINGS, "--max-modle-len is not a vLLM"),
    (["demo-model", "{repo}/llmops.yaml"], EXIT_ERROR, "is a file, not a folder"),
    (["demo-model", "/proc/llmops-nope/demo"], EXIT_ERROR, "cannot write the demo model"),
    (["smoke", "--url", "http://127.0.0.1:9", "--timeout", "-1"], EXIT_ERROR, "-1.0 is not in the range x>0"),
    (["smoke", "--url", "http://127.0.0.1:9", "--deadline", "0"], EXIT_ERROR, "0.0 is not in the range x>0"),
    (["smoke", "--url", "http://127.0.0.1:9", "--retries", "-1"], EXIT_ERROR, "-1 is not in the range x>=0"),
    (["smoke", "--url", "http://127.0.0.1:99999"], EXIT_ERROR, "port 99999 is out of range"),
    (["bench", "--url", "http://127.0.0.1:99999"], EXIT_ERROR, "port 99999 is out of range"),
    (["bench", "--url", "http://127.0.0.1:9", "--profile", "concurent:4"], EXIT_ERROR, "profile 'concurent'"),
    (["completion", "tcsh"], EXIT_ERROR, "'tcsh' is not one of"),
    (["init", "--repo", "{repo}/llmops.yaml"], EXIT_ERROR, "llmops.yaml is not a folder"),
    (["init", "-o", "init.json"], EXIT_ERROR, "use --output-file PATH"),
    (["comment", "--base", "main"], EXIT_ERROR, "which pull request? --pr is missing"),
    (["comment", "--base", "nope", "--dry-run"], EXIT_ERROR, "unknown git revision 'nope'"),
    (["freeze", "prod", "--reason", "x", "--target", "cluster"], EXIT_ERROR, "unknown environment 'prod'"),
    (["freeze", "dev"], EXIT_ERROR, "Missing option '--reason'"),
    (["unfreeze", "dev", "--target", "cluster", "--request-timeout", "0"], EXIT_ERROR, "0.0 is not in"),
    (["bootstrap", "--repo-credentials-file", "{tmp}/nope.yaml"], EXIT_ERROR, "cannot read"),
    (["schemas", "list", "-o", "schemas.json"], EXIT_ERROR, "use --output-file PATH"),
    (["validate", "--list-rules", "-o", "sarif"], EXIT_ERROR, "--list-rules prints table, wide, json"),
    (["validate", "--report", "xml:out.xml"], EXIT_ERROR, "--report 'xml:out.xml' is not FORMAT=PATH"),
]


@pytest.mark.parametrize(
    ("args", "code", "words"), BAD_INPUT, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_bad_input_is_one_error_line_and_a_hint_and_changes_nothing(
    cli, changed_repo: Path, tmp_path: Path, monkeypatch, args: list[str], code: int, words: str
) -> None:
    monkeypatch.chdir(changed_repo)
    before, status = _tree(changed_repo), git(changed_repo, "status", "--porcelain")
    filled = [a.format(repo=changed_repo, tmp=tmp_path) for a in args]
    result = cli(*filled)
    assert words in _shape(result, code)
    assert result.out == ""  # an error prints no data
    assert _tree(changed_repo) == before and git(changed_repo, "status", "--porcelain") == status
    assert git(changed_repo, "branch", "--format=%(refname:short)").split() == ["main"]
    assert not (Path(os.environ["XDG_CACHE_HOME"]) / "llmops" / "crash").exists()  # no crash report


def test_an_error_without_its_own_hint_gets_the_verbs_help(cli, gitops_repo: Path) -> None:
    (gitops_repo / "llmops.yaml").write_text("- just\n- a list\n")
    result = cli("envs", "--repo", gitops_repo)
    assert "must be a mapping" in _shape(result, EXIT_ERROR)
    assert "hint: start it with keys such as `environments:`" in result.err


def test_an_html_error_page_is_named_not_dumped(cli) -> None:
    with httpd.serve({"/health": httpd.Route(200, "{}")}) as url:
        result = cli("smoke", "--url", url, "-o", "json")
    assert result.code == EXIT_FINDINGS
    listed = {c["id"]: c for c in result.json()["checks"]}["model-listed"]
    assert listed["status"] == "fail"
    assert "answered 404: an HTML page (Not Found), not an API answer" in listed["detail"]
    assert "<html" not in result.out.lower() and len(listed["detail"]) < 200
    assert listed["hint"] and "base URL" in listed["hint"]


def test_https_to_a_plain_http_server_says_so(cli) -> None:
    with httpd.serve({}) as url:
        result = cli("smoke", "--url", url.replace("http://", "https://"), "--retries", "0", "-o", "json")
    reachable = result.json()["checks"][0]
    assert reachable["status"] == "fail"
    assert (
        "127.0.0.1 does not speak TLS: it answered an https:// request in plain HTTP" in reachable["detail"]
    )
    assert reachable["hint"].startswith("use http://127.0.0.1:")


def test_an_unreachable_endpoint_exits_the_same_in_smoke_and_bench(cli) -> None:
    port = _free_port()  # nothing listens there
    smoke = cli("smoke", "--url", f"http://127.0.0.1:{port}", "--retries", "0")
    bench = cli("bench", "--url", f"http://127.0.0.1:{port}")
    assert smoke.code == bench.code == EXIT_FINDINGS
    assert f"connection refused by 127.0.0.1:{port}" in _shape(bench, EXIT_FINDINGS)
    assert f"connection refused by 127.0.0.1:{port}" in smoke.out


def test_bench_load_flags_reach_the_plan_before_guidellm_starts(cli, gitops_repo: Path) -> None:
    with httpd.serve({"/v1/models": httpd.models_route("demo", max_model_len=512)}) as url:
        # the shipped llmops.yaml asks for 512 + 128 tokens: more than the demo server's 512
        shipped = cli("bench", "staging", "--url", url, "--repo", gitops_repo)
        flags = cli(
            "bench", "staging", "--url", url, "--repo", gitops_repo,
            "--prompt-tokens", "500", "--output-tokens", "64", "--profile", "concurrent:2",
            "--max-requests", "4",
        )  # fmt: skip
    assert "512 prompt + 128 output tokens, more than the 512 tokens" in _shape(shipped, EXIT_ERROR)
    assert "500 prompt + 64 output tokens, more than the 512 tokens" in _shape(flags, EXIT_ERROR)
    assert "--prompt-tokens" in flags.err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- output: -o is the format, --output-file the file, stdout only data ---------------------------


def test_output_means_the_format_everywhere_and_output_file_writes_the_file(
    cli, gitops_repo: Path, tmp_path: Path
) -> None:
    as_json = cli("validate", "--repo", gitops_repo, "-e", "dev", "--output", "json")
    assert as_json.code == 0 and as_json.json()["summary"]["passed"] is True
    as_yaml = cli("validate", "--repo", gitops_repo, "-e", "dev", "--format", "yaml")
    assert as_yaml.yaml()[0] == as_json.json()
    target = tmp_path / "reports" / "dev.yaml"
    written = cli("render", "dev", "--repo", gitops_repo, "-o", "yaml", "--output-file", target)
    assert written.code == 0 and written.out == "" and f"wrote {target}" in written.err
    assert target.read_text() == cli("render", "dev", "--repo", gitops_repo).out
    table = tmp_path / "envs.txt"
    assert cli("envs", "--repo", gitops_repo, "--output-file", table).out == ""
    assert "llmops-production" in table.read_text() and ESC not in table.read_text()


def test_notes_go_to_stderr_so_stdout_parses(cli, gitops_repo: Path, tmp_path: Path) -> None:
    (gitops_repo / "argocd/applications/orphan.yaml").write_text(
        (gitops_repo / "argocd/applications/llmops-dev.yaml")
        .read_text()
        .replace("name: llmops-dev", "name: llmops-qa")
        .replace("overlays/dev", "overlays/qa")
        .replace("environment: dev", "environment: qa")
    )
    result = cli("envs", "--repo", gitops_repo, "-o", "json")
    assert [e["name"] for e in result.json()] == ["dev", "staging", "production"]
    assert "Applications matching no environment were ignored: llmops-qa" in result.err


# -- terminals: NO_COLOR, --no-color, 80 columns, wide -----------------------------------------


@pytest.mark.parametrize("switch", ["NO_COLOR", "--no-color"])
def test_no_color_turns_off_every_style(cli, gitops_repo: Path, monkeypatch, switch: str) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich would style even into a pipe
    styled = [cli("envs", "--repo", gitops_repo), cli("render", "qa", "--repo", gitops_repo)]
    assert all(ESC in r.out + r.err for r in styled)  # the control: styles are there to turn off
    extra = ["--no-color"] if switch == "--no-color" else []
    if switch == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    plain = [cli("envs", "--repo", gitops_repo, *extra), cli("render", "qa", "--repo", gitops_repo, *extra)]
    for r in plain:
        assert ESC not in r.out + r.err, (r.out + r.err)[:300]
    assert "llmops-production" in plain[0].out and plain[1].err.startswith("error: unknown environment")


def _cells(table: str, column: int, bar: str = "│") -> list[str]:
    """The text of one column of a rich table, each row's folded lines joined (``┃``: the header)."""
    rows: list[str] = []
    for line in table.splitlines():
        if not line.startswith(bar):
            continue
        parts = line.split(bar)[1:-1]
        first = parts[0].strip()
        if first or not rows:
            rows.append("")
        rows[-1] += parts[column].strip()
    return rows


def test_tables_fit_80_columns_without_losing_a_column(cli, gitops_repo: Path, monkeypatch) -> None:
    edit(gitops_repo / OVERLAYS / "dev/release.yaml", "--dtype=bfloat16", "--dtpye=bfloat16")
    monkeypatch.setenv("COLUMNS", "80")
    results = {
        "envs": cli("envs", "--repo", gitops_repo),
        "validate": cli("validate", "--repo", gitops_repo, "-e", "dev"),
        "size": cli("size", "staging", "--repo", gitops_repo),
        "schemas list": cli("schemas", "list", "--repo", gitops_repo),
        "validate --list-rules": cli("validate", "--list-rules", "--repo", gitops_repo),
    }
    for name, r in results.items():
        assert r.out, name
        for line in r.out.splitlines():
            assert len(line) <= 80, (name, line)
            if line and line[0] in "┏┃┡│└":  # a table line: never cropped at the right border
                assert line.rstrip()[-1] in "┓┃┩│┘┤", (name, line)
    envs = results["envs"].out
    headers = ["#", "environment", "application", "overlay", "namespace", "syncpolicy", "revision"]
    assert ["".join(_cells(envs, i, "┃")) for i in range(7)] == headers
    assert _cells(envs, 3) == [f"deploy_model/overlays/{e}" for e in ("dev", "staging", "production")]
    # the message of the finding is whole: its words are all there, only wrapped
    findings = results["validate"].out
    for word in ("--dtpye=bfloat16", "is", "not", "vLLM", "option:", "exits", "start-up", "--dtype?"):
        assert word in findings.replace("│", " ").split(), word
    assert "serving.unknown-flag" in "".join(_cells(findings, 1))


def test_wide_shows_every_column_unfolded(cli, gitops_repo: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    wide = cli("envs", "--repo", gitops_repo, "-o", "wide").out
    assert "Application file" in wide and "argocd/applications/llmops-production.yaml" in wide
    assert max(len(line) for line in wide.splitlines()) > 80
    validate = cli("validate", "--repo", gitops_repo, "-e", "dev", "-o", "wide").out
    header = next(line for line in validate.splitlines() if "severity" in line)
    assert [h.strip() for h in header.strip("┃").split("┃")] == [
        "severity", "rule", "resource", "file:line:col", "message", "hint", "note",
    ]  # fmt: skip


# -- processes: a closed pipe, Ctrl-C, completion, progress ---------------------------------------


def _into_closed_pipe(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write: every write fails with EPIPE
    try:
        return subprocess.run(
            command(*args), stdout=write, stderr=subprocess.PIPE, text=True, cwd=cwd,
            env=process_env(), timeout=300, check=False,
        )  # fmt: skip
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "-e", "dev"], ["size", "dev"], ["envs", "-o", "json"], ["-h"], ["schemas", "list"],
        ["validate", "--list-rules", "-o", "yaml"], ["init", "--dry-run"],
    ],
    ids=" ".join,
)  # fmt: skip
def test_a_closed_pipe_ends_quietly_with_141(gitops_repo: Path, args: list[str]) -> None:
    proc = _into_closed_pipe(args, gitops_repo)
    assert proc.returncode == EXIT_BROKEN_PIPE, proc.stderr
    assert proc.stderr == ""  # no traceback, no "Exception ignored", no error line


@contextmanager
def _silent_server() -> Iterator[tuple[socket.socket, int]]:
    """A socket that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        yield server, server.getsockname()[1]


def test_ctrl_c_exits_130_quietly(gitops_repo: Path) -> None:
    with _silent_server() as (server, port):
        proc = subprocess.Popen(
            command("smoke", "--url", f"http://127.0.0.1:{port}", "--timeout", "60"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=process_env(),
        )  # fmt: skip
        try:
            server.settimeout(60)
            conn, _ = server.accept()  # the smoke test is waiting for an answer now
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            conn.close()
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == EXIT_INTERRUPTED
        assert err.strip() == "interrupted" and "Traceback" not in err


@pytest.mark.parametrize(
    ("shell", "marker"), [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete")]
)
def test_completion_prints_the_shells_script(cli, shell: str, marker: str) -> None:
    result = cli("completion", shell)
    assert result.code == 0 and marker in result.out and "_LLMOPS_COMPLETE" in result.out


def test_completion_completes_verbs_and_environment_names(gitops_repo: Path) -> None:
    def complete(words: str) -> list[str]:
        env = process_env(
            _LLMOPS_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(len(words.split(" ")) - 1)
        )
        proc = subprocess.run(
            command(), capture_output=True, text=True, cwd=gitops_repo, env=env, timeout=60, check=False
        )
        return [line.split(",", 1)[1] for line in proc.stdout.splitlines() if "," in line]

    assert "render" in complete("llmops ren")
    assert complete("llmops render ") == [
        "dev",
        "staging",
        "production",
        "llmops-dev",
        "llmops-staging",
        "llmops-production",
    ]
    assert complete("llmops smoke st") == ["staging"]


@pytest.fixture(scope="module")
def fleet_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four models x three environments: twelve overlays, a render long enough for a progress line."""
    reference = reference_repo(tmp_path_factory.mktemp("reference") / "gitops")
    dest = tmp_path_factory.mktemp("fleet") / "gitops"
    fleet.generate(reference, dest, 4)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "fleet")
    return dest


def _stderr_on_a_terminal(args: list[str], cwd: Path, out: Path) -> tuple[int, bytes]:
    """Run llmops with stdout to a file and stderr on a pseudo-terminal; (exit code, what it showed)."""
    primary, secondary = pty.openpty()
    with out.open("wb") as data:  # a file, not a pipe: nothing waits on a reader
        proc = subprocess.Popen(command(*args), stdout=data, stderr=secondary, cwd=cwd, env=process_env())
        os.close(secondary)
        seen = b""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:  # the process exited and closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        proc.wait(timeout=60)
        os.close(primary)
    return proc.returncode, seen


def test_progress_shows_on_a_terminal_and_nowhere_else(fleet_repo: Path, tmp_path: Path) -> None:
    code, seen = _stderr_on_a_terminal(["render"], fleet_repo, tmp_path / "out.yaml")
    out = (tmp_path / "out.yaml").read_bytes()
    assert code == 0
    assert b"kustomize: 12 overlays" in seen  # on the terminal...
    assert b"kustomize" not in out and out.count(b"# Application ") == 12  # ...never in the data
    code, seen = _stderr_on_a_terminal(["validate", "-o", "json"], fleet_repo, tmp_path / "report.json")
    assert code == 0 and b"validate: kustomize renders and rules" in seen
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["passed"] is True
    for args in (["render"], ["validate", "-o", "json"]):
        piped = subprocess.run(
            command(*args), capture_output=True, cwd=fleet_repo, env=process_env(), timeout=300, check=False
        )
        assert piped.returncode == 0 and piped.stderr == b""  # stderr not a terminal: no progress at all
