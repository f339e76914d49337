"""Strict JSON schemas for rendered resources: Kubernetes core kinds and imported CRDs.

Core kinds come from the strict schemas bundled with the ``kubernetes-validate``
package. Custom resources come from the built-in catalog shipped with llmops
(:mod:`llmops.validation.builtin_schemas`) and from a catalog folder in the repository
(default ``schemas/``, optional) holding one compact JSON file per group/version/kind,
written by ``llmops schemas import`` (CRD YAML) or ``llmops schemas pull`` (a live
cluster). The repository's file for an API version and kind replaces the built-in one.

The catalog stores each CRD's ``openAPIV3Schema`` without descriptions; strictness
is applied when loading: every object that lists its properties and neither
declares ``additionalProperties`` nor preserves unknown fields rejects unknown
keys, because the API server would prune them silently. ``metadata`` is checked
against the real ObjectMeta schema. Schemas are loaded once per process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from llmops.errors import LlmopsError
from llmops.gitops import manifests
from llmops.support.files import atomic_write_text, user_cache_dir

if TYPE_CHECKING:  # imported where used: a run starts kustomize before paying for them
    import jsonschema
    import referencing

K8S_DEFS_ID = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = K8S_DEFS_ID + "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_KEEP_KEYS = frozenset(
    {
        "type", "properties", "items", "required", "enum", "additionalProperties", "anyOf", "allOf",
        "oneOf", "not", "maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum", "maxLength",
        "minLength", "maxItems", "minItems", "maxProperties", "minProperties", "pattern", "nullable",
        "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource",
    }
)  # fmt: skip
MAX_ERRORS_PER_RESOURCE = 20
# The catalog shipped inside the package (see builtin_schemas.py for how it is made).
BUILTIN_DIR = Path(__file__).resolve().parent / "data" / "schemas"
BUILTIN = "built-in"
REPOSITORY = "repository"


class SchemaError(LlmopsError):
    """A schema catalog or CRD file cannot be read or imported."""


@dataclass(frozen=True)
class Violation:
    """One schema error: a dotted path inside the resource and a message."""

    path: tuple[str | int, ...]
    message: str
    unknown_field: str | None = None  # set when the error is an unknown (pruned) field

    @property
    def dotted(self) -> str:
        return ".".join(str(p) for p in self.path) or "(top level)"


# -- import: CRD YAML -> catalog entries ----------------------------------------------------


def _compact(node: Any) -> Any:
    """The schema without descriptions, examples and defaults (they do not affect validation)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                out[key] = {k: _compact(v) for k, v in value.items()}
            elif key in _KEEP_KEYS:
                out[key] = _compact(value)
        return out
    if isinstance(node, list):
        return [_compact(v) for v in node]
    return node


@dataclass(frozen=True, kw_only=True)
class CatalogEntry:
    """The schema of one CRD kind at one version, as the catalog stores it."""

    group: str
    version: str
    kind: str
    schema: dict[str, Any]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def filename(self) -> str:
        return f"{self.group}_{self.version}_{self.kind}.json"


def entries_from_crd(doc: Any, source: str) -> list[CatalogEntry]:
    """Catalog entries (one per served version) of a CustomResourceDefinition document."""
    spec, group, kind = _crd_identity(doc, source)
    return [
        CatalogEntry(
            group=group, version=str(version.get("name")), kind=kind, schema=_version_schema(spec, version)
        )
        for version in spec.get("versions") or []
        if isinstance(version, dict) and version.get("served") is not False
    ]


def _crd_identity(doc: Any, source: str) -> tuple[dict[str, Any], str, str]:
    """(spec, group, kind) of a CRD document; a clear error for anything else."""
    if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
        raise SchemaError(
            f"{source} is not a CustomResourceDefinition "
            f"(kind: {doc.get('kind') if isinstance(doc, dict) else type(doc).__name__})",
            hint="import CRD YAML files (kind: CustomResourceDefinition, apiextensions.k8s.io/v1)",
        )
    spec = doc.get("spec") or {}
    group = str(spec.get("group") or "")
    kind = str((spec.get("names") or {}).get("kind") or "")
    if not group or not kind or not isinstance(spec.get("versions") or [], list):
        raise SchemaError(f"{source}: CRD without spec.group, spec.names.kind or spec.versions")
    return spec, group, kind


def _version_schema(spec: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
    """The compact schema of one served version (no schema: anything goes)."""
    schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or spec.get("validation", {}).get(
        "openAPIV3Schema"
    )
    if not isinstance(schema, dict):
        schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    result: dict[str, Any] = _compact(schema)
    return result


def _yaml_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file())
    raise SchemaError(f"{path} does not exist", hint="pass a CRD YAML file or a folder of them")


def read_crds(path: Path) -> tuple[list[CatalogEntry], list[str]]:
    """Entries from a CRD file or folder; returns (entries, notes about skipped documents)."""
    entries: list[CatalogEntry] = []
    skipped: list[str] = []
    files = _yaml_files(path)
    for file in files:
        try:
            docs = [d for d in yaml.load_all(file.read_text(encoding="utf-8"), Loader=manifests.Loader) if d]
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            if path.is_file():
                raise SchemaError(f"{file} is not readable YAML: {str(exc).splitlines()[0]}") from exc
            skipped.append(f"{file}: not readable YAML")
            continue
        found = 0
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                entries.extend(entries_from_crd(doc, str(file)))
                found += 1
        if not found:
            if path.is_file():
                entries_from_crd(docs[0] if docs else None, str(file))  # raises a clear error
            skipped.append(f"{file}: no CustomResourceDefinition")
    if not entries:
        raise SchemaError(f"no CustomResourceDefinition found in {path}", hint="pass CRD YAML files")
    return entries, skipped


def write_entries(catalog: Path, entries: Iterable[CatalogEntry]) -> list[Path]:
    """Write entries atomically into the catalog folder; returns the files written."""
    catalog.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in entries:
        body = {"apiVersion": entry.api_version, "kind": entry.kind, "schema": entry.schema}
        target = catalog / entry.filename
        atomic_write_text(target, json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n")
        written.append(target)
    clear_cache()
    return written


# -- loading: catalog + core kinds -> validators ---------------------------------------------


def _strict(node: Any, root: bool = False) -> Any:
    """OpenAPI v3 (CRD flavour) -> JSON Schema 2020-12, rejecting unknown fields."""
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = _converted_keys(node)
    _json_schema_bounds(out)
    _kubernetes_extensions(node, out)
    if root:
        _object_fields(out, meta={"$ref": OBJECT_META}, override=True)
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def _converted_keys(node: dict[str, Any]) -> dict[str, Any]:
    """Each key converted: nested schemas recursively, Kubernetes extensions dropped."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {k: _strict(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _strict(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            # Structural schemas only constrain values here; unknown-field checks stay with the parent.
            # Real CRDs sometimes carry `anyOf: null` (OpenShift's Route): no constraint.
            if isinstance(value, list):
                out[key] = [_loose(v) for v in value]
        elif not (key.startswith("x-kubernetes-") or key == "nullable"):
            out[key] = value
    return out


def _json_schema_bounds(out: dict[str, Any]) -> None:
    """OpenAPI's boolean ``exclusiveMaximum``/``exclusiveMinimum`` -> JSON Schema's numeric ones."""
    for bound in ("Maximum", "Minimum"):
        exclusive = "exclusive" + bound
        if out.get(exclusive) is True and bound.lower() in out:
            out[exclusive] = out.pop(bound.lower())
        elif isinstance(out.get(exclusive), bool):
            out.pop(exclusive)


def _kubernetes_extensions(node: dict[str, Any], out: dict[str, Any]) -> None:
    """What int-or-string, nullable and embedded-resource mean, in JSON Schema terms."""
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["type"] = ["integer", "string"]
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-embedded-resource"):
        _object_fields(out, meta={"type": "object"}, override=False)


def _object_fields(out: dict[str, Any], *, meta: dict[str, Any], override: bool) -> None:
    """A Kubernetes object's apiVersion, kind and metadata (``override``: metadata always ``meta``)."""
    props = out.setdefault("properties", {})
    if override:
        props["metadata"] = meta
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    props.setdefault("metadata", meta)


def _loose(node: Any) -> Any:
    converted = _strict(node)
    if isinstance(converted, dict) and converted.get("additionalProperties") is False:
        del converted["additionalProperties"]
    return converted


def _core_dir(kubernetes_version: str) -> Any:
    # The package's data folder, found without importing the package (its import costs ~90 ms).
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise SchemaError("kubernetes-validate is not installed", hint="pip install kubernetes-validate")
    base = Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"
    wanted = tuple(int(p) for p in re.findall(r"\d+", kubernetes_version)[:2])
    available = []
    for child in base.iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local-strict", child.name)
        if match:
            available.append(((int(match.group(1)), int(match.group(2))), child))
    if not available:
        raise SchemaError(
            "kubernetes-validate ships no strict schemas", hint="pip install kubernetes-validate"
        )
    available.sort(key=lambda item: item[0])
    older = [c for v, c in available if v <= wanted]
    return older[-1] if older else available[0][1]


# Bump when _strict changes, so cached conversions are made again.
_STRICT_VERSION = "1"


def _strict_cached(file: Path) -> dict[str, Any]:
    """The strict form of a catalog entry's schema, cached in the user's cache by content.

    A CRD schema of thousands of nodes takes tens of milliseconds to convert; the
    converted form is kept under ``$XDG_CACHE_HOME/llmops/strict-schemas``.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise _unreadable(file, exc) from exc
    base = user_cache_dir()
    digest = hashlib.sha256(f"{_STRICT_VERSION}\0{text}".encode()).hexdigest()[:32]
    cached = base / "strict-schemas" / f"{digest}.json" if base is not None else None
    if cached is not None:
        try:
            loaded = json.loads(cached.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                return loaded
        except (OSError, ValueError):
            pass
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _unreadable(file, exc) from exc
    schema: dict[str, Any] = _strict(body.get("schema") or {}, root=True)
    if cached is not None:
        try:
            atomic_write_text(cached, json.dumps(schema), parents=True)
        except OSError:
            pass  # a cache that cannot be written only costs time
    return schema


def _unreadable(file: Path, exc: Exception) -> SchemaError:
    return SchemaError(
        f"schema catalog file {file} is unreadable: {exc}",
        hint="re-import it with `llmops schemas import CRD.yaml`",
    )


# What Kubernetes accepts as a kind and an apiVersion (group: a DNS subdomain; version: a DNS label).
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_API_VERSION = re.compile(rf"(?:{_DNS_LABEL}(?:\.{_DNS_LABEL})*/)?[a-z0-9]{{1,63}}")


def catalog_files(folder: Path | None) -> dict[tuple[str, str], Path]:
    """(apiVersion, kind) -> the catalog file of a folder (none when it does not exist)."""
    found: dict[tuple[str, str], Path] = {}
    if folder is None or not folder.is_dir():
        return found
    for file in sorted(folder.glob("*.json")):
        match = re.fullmatch(r"(.*)_([^_]+)_([^_]+)\.json", file.name)
        if match:
            group, version, kind = match.groups()
            found[(f"{group}/{version}" if group else version, kind)] = file
    return found


@dataclass(frozen=True, kw_only=True)
class SchemaOrigin:
    """Where the schema of one CRD kind comes from: ``built-in`` or ``repository`` (which may override)."""

    api_version: str
    kind: str
    origin: str
    file: Path
    overrides_builtin: bool = False


class SchemaSet:
    """Validators for core kinds (one Kubernetes release), the built-in CRD catalog and the
    CRDs of one repository catalog folder (which override built-in ones per API version and kind)."""

    def __init__(
        self, catalog: Path | None, kubernetes_version: str = "1.33", *, builtin: Path | None = BUILTIN_DIR
    ) -> None:
        self.catalog = catalog
        self._core = _core_dir(kubernetes_version)
        defs = json.loads(self._core.joinpath("_definitions.json").read_text(encoding="utf-8"))
        import referencing
        import referencing.jsonschema

        self._registry: referencing.Registry[Any] = referencing.Registry().with_resource(
            K8S_DEFS_ID, referencing.jsonschema.DRAFT202012.create_resource(defs)
        )
        shipped = catalog_files(builtin)
        own = catalog_files(catalog)
        self._crds: dict[tuple[str, str], Path] = {**shipped, **own}
        self.origins = [
            SchemaOrigin(
                api_version=key[0],
                kind=key[1],
                origin=REPOSITORY if key in own else BUILTIN,
                file=file,
                overrides_builtin=key in own and key in shipped,
            )
            for key, file in sorted(self._crds.items())
        ]
        self._validators: dict[tuple[str, str], jsonschema.protocols.Validator | None] = {}

    @property
    def crd_kinds(self) -> list[tuple[str, str]]:
        return sorted(self._crds)

    def _load(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        import jsonschema

        if not (_KIND.fullmatch(kind) and _API_VERSION.fullmatch(api_version)):
            return None  # not a name Kubernetes allows: no schema (and never a path to look at)
        file = self._crds.get((api_version, kind))
        if file is not None:
            return jsonschema.Draft202012Validator(_strict_cached(file), registry=self._registry)
        group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        ref = self._core.joinpath(f"{kind.lower()}-{group_version}.json")
        if not ref.is_file():
            return None
        schema = json.loads(ref.read_text(encoding="utf-8"))
        if (schema.get("properties") or {}).get("kind", {}).get("enum") not in (None, [kind]):
            return None
        return jsonschema.Draft202012Validator(schema, registry=self._registry)

    def validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        """The validator of a kind (built once), or None when neither the catalog nor
        Kubernetes has a schema for it."""
        key = (api_version, kind)
        if key not in self._validators:
            self._validators[key] = self._load(api_version, kind)
        return self._validators[key]

    def has(self, api_version: str, kind: str) -> bool:
        return self.validator(api_version, kind) is not None

    def violations(self, resource: dict[str, Any]) -> list[Violation] | None:
        """Schema violations of a resource; None when no schema is known for its kind."""
        validator = self.validator(str(resource.get("apiVersion", "")), str(resource.get("kind", "")))
        if validator is None:
            return None
        found: list[Violation] = []
        for err in _leaf_errors(validator.iter_errors(resource)):
            found.extend(_describe(err))
            if len(found) >= MAX_ERRORS_PER_RESOURCE:
                break
        found.sort(key=lambda v: [str(p) for p in v.path])
        return found


def _leaf_errors(errors: Iterable[jsonschema.ValidationError]) -> Iterator[jsonschema.ValidationError]:
    for err in errors:
        # For anyOf/oneOf (e.g. int-or-string, nullable refs) report the most relevant branch.
        if err.context:
            from jsonschema.exceptions import best_match

            yield best_match(err.context)
        else:
            yield err


_UNEXPECTED = re.compile(r"'([^']+)' (?:was|were) unexpected|\('([^)]*)' (?:was|were) unexpected\)")


def _describe(err: jsonschema.ValidationError) -> list[Violation]:
    path = tuple(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set((err.schema.get("properties") or {}) if isinstance(err.schema, dict) else {})
        extra = [k for k in err.instance if k not in allowed]
        return [
            Violation(
                (*path, name),
                f"unknown field {'.'.join(str(p) for p in (*path, name))}: the API server would drop it",
                unknown_field=str(name),
            )
            for name in extra
        ]
    message = err.message
    if len(message) > 200:
        message = message[:200] + " ..."
    return [Violation(path, message)]


@lru_cache(maxsize=8)
def _cached(catalog: str, kubernetes_version: str) -> SchemaSet:
    return SchemaSet(Path(catalog) if catalog else None, kubernetes_version)


def load(catalog: Path | None, kubernetes_version: str = "1.33") -> SchemaSet:
    """A schema set shared by every caller in this process (schemas load once)."""
    return _cached(str(catalog) if catalog else "", kubernetes_version)


def clear_cache() -> None:
    _cached.cache_clear()
