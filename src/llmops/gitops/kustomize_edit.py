"""What Argo CD's ``kustomize edit`` runs do to a kustomization, applied to its parsed form.

Argo CD turns an Application's ``spec.source.kustomize`` into ``kustomize edit`` commands run
in its own checkout (argoproj/argo-cd ``util/kustomize/kustomize.go``, ``Build``). ``kubectl
kustomize`` has no ``edit`` command, so llmops makes the same changes itself, following
kustomize's own commands (kubernetes-sigs/kustomize ``kustomize/commands/edit/``):

- ``set nameprefix``/``namesuffix``/``namespace`` replace the field;
- ``set image [NAME=]NEWNAME[:TAG][@DIGEST]`` replaces the entry of the same name, keeps
  fields given as ``*``, and sorts the list by name;
- ``set replicas NAME=COUNT`` replaces the entry of the same name and sorts by name;
- ``add label`` adds to ``commonLabels`` (or, ``--without-selector``, to a ``labels`` entry
  with ``includeSelectors: false``), refusing a key already there unless forced;
- ``add annotation`` adds to ``commonAnnotations`` the same way;
- ``add component`` appends components not listed yet (Argo CD drops missing ones when
  ``ignoreMissingComponents`` is set); patches are appended to ``patches``.

Image and label values get Argo CD's ``$ARGOCD_APP_*`` substitution (annotations only with
``commonAnnotationsEnvsubst``); unknown variables become empty, as Go's ``os.Expand`` does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from llmops.errors import RenderError
from llmops.gitops import manifests
from llmops.gitops.kustomize_tree import kustomization_file

_VAR = re.compile(r"\$(\$|\{([^}]*)\}|([A-Za-z0-9_]+))")
_DIGEST = "@"
PRESERVE = "*"


def envsubst(text: str, env: Mapping[str, str]) -> str:
    """``$VAR`` and ``${VAR}`` replaced by ``env`` (unknown: empty); ``$$`` is a ``$``."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) == "$":
            return "$"
        return env.get(match.group(2) or match.group(3) or "", "")

    return _VAR.sub(one, text)


def split_image(value: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference, the way kustomize splits it."""
    name, digest = value, ""
    if _DIGEST in value:
        name, digest = value.split(_DIGEST, 1)
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest


def parse_image(arg: str) -> dict[str, str]:
    """One ``kustomize edit set image`` argument as an ``images:`` entry."""
    key, eq, value = arg.partition("=")
    if not eq:
        key, value = "", arg
    name, tag, digest = split_image(value)
    if not key and name == arg:
        raise RenderError(f"the Application's kustomize image {arg!r} names no new tag, digest or name")
    entry = {"name": key or name}
    if key:
        entry["newName"] = name
    if tag:
        entry["newTag"] = tag
    if digest:
        entry["digest"] = digest
    return entry


def set_images(doc: dict[str, Any], args: list[str]) -> None:
    wanted = {e["name"]: e for e in (parse_image(a) for a in args)}
    merged: dict[str, dict[str, Any]] = {}
    for old in doc.get("images") or []:
        if not isinstance(old, dict):
            continue
        new = wanted.pop(str(old.get("name")), None)
        if new is None:
            merged[str(old.get("name"))] = old
            continue
        for key in ("newName", "newTag", "digest"):
            if new.get(key) == PRESERVE:
                new[key] = old.get(key, "")
        merged[new["name"]] = new
    merged.update(wanted)
    images = [{k: v for k, v in e.items() if v not in (PRESERVE, "", None)} for e in merged.values()]
    doc["images"] = sorted(images, key=lambda e: str(e.get("name")))


def set_replicas(doc: dict[str, Any], replicas: list[Any]) -> None:
    merged: dict[str, dict[str, Any]] = {}
    for old in doc.get("replicas") or []:
        if isinstance(old, dict):
            merged[str(old.get("name"))] = old
    for rep in replicas:
        if not isinstance(rep, dict) or "name" not in rep:
            raise RenderError(f"the Application's kustomize replicas entry {rep!r} has no name")
        try:
            count = int(str(rep.get("count")))
        except ValueError as exc:
            raise RenderError(
                f"the Application's kustomize replicas count {rep.get('count')!r} is not a number"
            ) from exc
        merged[str(rep["name"])] = {"name": str(rep["name"]), "count": count}
    doc["replicas"] = sorted(merged.values(), key=lambda e: str(e.get("name")))


def _put(target: dict[str, Any], values: Mapping[str, str], force: bool, what: str) -> None:
    for key, value in values.items():
        if key in target and not force:
            flag = "forceCommonLabels" if what == "label" else "forceCommonAnnotations"
            raise RenderError(
                f"the Application's kustomize common {what} {key} is already in the kustomization "
                f"(Argo CD fails the same way): set {flag}: true to override it"
            )
        target[key] = value


def add_labels(doc: dict[str, Any], labels: Mapping[str, str], *, force: bool, without_selector: bool,
               include_templates: bool) -> None:  # fmt: skip
    if not without_selector:
        common = doc.get("commonLabels")
        doc["commonLabels"] = common = common if isinstance(common, dict) else {}
        _put(common, labels, force, "label")
        return
    entries = doc.get("labels")
    doc["labels"] = entries = entries if isinstance(entries, list) else []
    for entry in entries:
        if (
            isinstance(entry, dict)
            and not entry.get("includeSelectors")
            and bool(entry.get("includeTemplates")) == include_templates
        ):
            pairs = entry.setdefault("pairs", {})
            _put(pairs, labels, force, "label")
            return
    entry = {"pairs": {}, "includeSelectors": False}
    if include_templates:
        entry["includeTemplates"] = True
    _put(entry["pairs"], labels, force, "label")
    entries.append(entry)


def add_components(doc: dict[str, Any], components: list[str], directory: Path, ignore_missing: bool) -> None:
    listed = doc.get("components")
    doc["components"] = listed = listed if isinstance(listed, list) else []
    for component in components:
        if ignore_missing and not (directory / component).exists():
            continue
        if component not in listed:
            listed.append(component)


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def apply_file(directory: Path, edits: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """Edit the kustomization in ``directory`` (a throw-away copy) as Argo CD's ``kustomize edit`` runs do."""
    kfile = kustomization_file(directory)
    if kfile is None:
        raise RenderError(f"{directory} has no kustomization to apply the Application's kustomize options to")
    try:
        doc = yaml.load(kfile.read_text(encoding="utf-8"), Loader=manifests.Loader) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RenderError(f"{kfile.name} in {directory} cannot be read: {exc}") from exc
    if not isinstance(doc, dict):
        raise RenderError(f"{kfile.name} in {directory} is not a mapping")
    apply(doc, edits, env, directory)
    kfile.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def apply(doc: dict[str, Any], edits: Mapping[str, Any], env: Mapping[str, str], directory: Path) -> None:
    """Apply an Application's ``spec.source.kustomize`` to the kustomization ``doc`` in place, in
    Argo CD's order."""
    for field, key in (("namePrefix", "namePrefix"), ("nameSuffix", "nameSuffix")):
        if edits.get(field):
            doc[key] = str(edits[field])
    if edits.get("images"):
        set_images(doc, [envsubst(str(i), env) for i in edits["images"]])
    if edits.get("replicas"):
        set_replicas(doc, list(edits["replicas"]))
    labels = {k: envsubst(v, env) for k, v in _strings(edits.get("commonLabels")).items()}
    if labels:
        add_labels(
            doc, labels, force=bool(edits.get("forceCommonLabels")),
            without_selector=bool(edits.get("labelWithoutSelector")),
            include_templates=bool(edits.get("labelIncludeTemplates")),
        )  # fmt: skip
    annotations = _strings(edits.get("commonAnnotations"))
    if edits.get("commonAnnotationsEnvsubst"):
        annotations = {k: envsubst(v, env) for k, v in annotations.items()}
    if annotations:
        common = doc.get("commonAnnotations")
        doc["commonAnnotations"] = common = common if isinstance(common, dict) else {}
        _put(common, annotations, bool(edits.get("forceCommonAnnotations")), "annotation")
    if edits.get("namespace"):
        doc["namespace"] = str(edits["namespace"])
    if edits.get("patches"):
        doc["patches"] = [*(doc.get("patches") or []), *edits["patches"]]
    if edits.get("components"):
        components = [str(c) for c in edits["components"]]
        add_components(doc, components, directory, bool(edits.get("ignoreMissingComponents")))
