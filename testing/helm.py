"""A stand-in for the helm binary, for tests of Helm chart inflation on machines without helm.

helm is not installable from the package registries these machines reach (no wheel ships
it), so the tests that need kustomize to call a helm give it this script. It answers the
two commands kustomize's HelmChartInflationGenerator runs on a vendored chart
(``version --short`` and ``template RELEASE CHART_DIR ...``), writing each call's arguments
to a log. ``template`` prints the chart's ``templates/*.yaml`` with ``{{ .Release.Name }}``
and ``{{ .Release.Namespace }}`` filled in (no other templating). Anything else, ``pull``
included, fails: the tests prove llmops never makes kustomize download a chart. Where a real
helm is on PATH, tests also run it (they skip otherwise).
"""

from __future__ import annotations

import sys
from pathlib import Path

_SCRIPT = """#!{python}
import pathlib, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
if args[:2] == ["version", "--short"]:
    print("v3.16.2+gstandin")
    sys.exit(0)
if args and args[0] == "template":
    release, chart = args[1], pathlib.Path(args[2])
    namespace = args[args.index("--namespace") + 1] if "--namespace" in args else "default"
    for template in sorted((chart / "templates").glob("*.yaml")):
        text = template.read_text().replace("{{{{ .Release.Name }}}}", release)
        print("---\\n" + text.replace("{{{{ .Release.Namespace }}}}", namespace))
    sys.exit(0)
print("stand-in helm: only `version` and `template` are available", file=sys.stderr)
sys.exit(1)
"""


def stand_in_helm(folder: Path) -> tuple[Path, Path]:
    """Write the stand-in helm into ``folder``; returns (executable, log of its calls)."""
    folder.mkdir(parents=True, exist_ok=True)
    exe, log = folder / "helm", folder / "helm-calls.log"
    exe.write_text(_SCRIPT.format(python=sys.executable, log=str(log)), encoding="utf-8")
    exe.chmod(0o755)
    log.write_text("", encoding="utf-8")
    return exe, log


def vendored_chart(chart_dir: Path, name: str) -> Path:
    """A minimal chart (Chart.yaml, values.yaml, one templated ConfigMap) in ``chart_dir``."""
    chart_dir.mkdir(parents=True, exist_ok=True)
    (chart_dir / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n", encoding="utf-8")
    (chart_dir / "values.yaml").write_text("greeting: hello\n", encoding="utf-8")
    (chart_dir / "templates").mkdir(exist_ok=True)
    (chart_dir / "templates/configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
        "data:\n  release: {{ .Release.Name }}\n",
        encoding="utf-8",
    )
    return chart_dir
