"""CEL as the Kubernetes API server evaluates it, for admission policies and llmops.yaml rules.

The engine is ``cel-python`` (PyPI ``cel-python``, module ``celpy``; docs/architecture.md says
why), extended with the Kubernetes libraries in :mod:`llmops.validation.cel_library` and
cel-go's runtime equality across numeric types. Everything else stays with cel-python.

:func:`compile` parses once (cached by source text) and checks, before anything runs, that
every function, macro and variable the expression uses is one llmops can evaluate; what it
cannot (``authorizer``, ``cel.bind``, ``.?`` optional field selection, two-variable
comprehensions, any function outside the libraries) raises :class:`CelUnsupportedError`
naming it, so a policy is never passed silently. :meth:`Program.evaluate` raises
:class:`CelEvaluationError` with cel-go's wording where it matters (``no such key: replicas``).

Cost stays bounded on hostile input: an expression is at most :data:`MAX_EXPRESSION_LENGTH`
characters (the API server's own limit for a validation expression), and the values it sees
are the repository's manifests.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError, CELParser
from celpy.evaluation import CELEvalError

from llmops.errors import LlmopsError
from llmops.support.files import user_cache_dir
from llmops.validation import cel_library

__all__ = [
    "MAX_EXPRESSION_LENGTH",
    "CelCompileError",
    "CelError",
    "CelEvaluationError",
    "CelUnsupportedError",
    "LazyMap",
    "Program",
    "compile",
    "error_value",
    "is_bool",
    "is_true",
    "to_cel",
    "to_python",
]

MAX_EXPRESSION_LENGTH = 5 * 1024
logging.getLogger("celpy").setLevel(logging.CRITICAL)  # cel-python logs evaluation errors we report

# Macros and functions cel-python evaluates itself that the API server's CEL also has.
_MACROS = frozenset({"has", "dyn", "map", "filter", "all", "exists", "exists_one"})
_CELPY_BUILTINS = frozenset(
    {
        "size",
        "contains",
        "type",
        "endsWith",
        "startsWith",
        "matches",
        "bool",
        "bytes",
        "double",
        "duration",
        "int",
        "list",
        "map",
        "string",
        "timestamp",
        "uint",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getFullYear",
        "getMonth",
        "getHours",
        "getMilliseconds",
        "getMinutes",
        "getSeconds",
        "min",
    }
)
SUPPORTED = _MACROS | _CELPY_BUILTINS | frozenset(n for n in cel_library.FUNCTIONS if not n.startswith("_"))
# Variables the API server offers that need the API server itself.
_UNSUPPORTED_VARIABLES = {"authorizer": "the authorizer variable (authorization checks need the API server)"}
_OPTIONAL_SYNTAX = re.compile(r"\.\?|\[\?|\boptional\.")


class CelError(LlmopsError):
    """A CEL expression that cannot be compiled or evaluated."""


class CelCompileError(CelError):
    """The expression does not parse (the API server would refuse the policy)."""


class CelUnsupportedError(CelError):
    """The expression uses functions or syntax llmops cannot evaluate (``names`` says which)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__(
            "uses CEL that llmops cannot evaluate: " + ", ".join(names),
            hint="rewrite the expression with the supported functions (docs/guide-validate.md lists them), "
            "or accept the finding in llmops.yaml with a reason",
        )
        self.names = names


class CelEvaluationError(CelError):
    """The expression failed at run time (a missing field, a wrong type, a function's refusal)."""


@cache
def _env() -> celpy.Environment:
    """cel-python's environment, made on first use.

    Building its LALR parser takes about a second; the same parser (cel-python's own grammar
    and options) is built with lark's cache in ``$XDG_CACHE_HOME/llmops``, which brings later
    runs down to a few milliseconds. Without a usable cache cel-python builds it as usual.
    """
    folder = user_cache_dir()
    if folder is not None and CELParser.CEL_PARSER is None:
        grammar = (Path(celpy.__file__).parent / "cel.lark").read_text(encoding="utf-8")
        key = hashlib.sha256(f"{lark.__version__}\n{grammar}".encode()).hexdigest()[:16]
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            CELParser.CEL_PARSER = lark.Lark(
                grammar,
                parser="lalr",
                start="expr",
                debug=True,
                g_regex_flags=re.M,
                lexer_callbacks={"IDENT": CELParser.ambiguous_literals},
                propagate_positions=True,
                maybe_placeholders=False,
                priority="invert",
                tree_class=celpy.InterpretedRunner.tree_node_class,
                cache=str(folder / f"cel-parser-{key}.lark"),
            )
    return celpy.Environment()


@lru_cache(maxsize=1024)
def compile(source: str) -> Program:
    """Parse ``source`` and check it uses only what llmops supports (cached by source)."""
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise CelCompileError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        ast = _env().compile(source)
    except CELParseError as exc:
        if _OPTIONAL_SYNTAX.search(source):
            raise CelUnsupportedError(("optional types (`.?`, `[?`, optional.*)",)) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        raise CelCompileError(f"the expression does not parse: {first}") from exc
    chains = _field_chains(ast)
    unsupported = tuple(dict.fromkeys([*_unsupported(ast), *_unsupported_fields(chains)]))
    if unsupported:
        raise CelUnsupportedError(unsupported)
    return Program(source, ast, chains)


@dataclass(frozen=True)
class Program:
    """A compiled expression, evaluated against many objects."""

    source: str
    ast: lark.Tree[Any] = field(repr=False, compare=False)
    # The field selections the expression makes (``object.spec.x`` as ('object', 'spec', 'x')),
    # longest first within each, in source order: what a finding points at in the YAML.
    chains: tuple[tuple[str, ...], ...] = ()

    def path_under(self, root: str) -> tuple[str, ...] | None:
        """The first field path the expression reads below the variable ``root``, if any."""
        for chain in self.chains:
            if chain[0] == root and len(chain) > 1:
                return chain[1:]
        return None

    @property
    def object_path(self) -> tuple[str | int, ...]:
        return self.path_under("object") or ()

    @cached_property
    def _runner(self) -> Any:
        return _env().program(self.ast, functions=dict(cel_library.FUNCTIONS))

    def evaluate(self, activation: Mapping[str, Any]) -> Any:
        """The value of the expression (CEL values); raises :class:`CelEvaluationError`."""
        try:
            result = self._runner.evaluate(dict(activation))
        except CELEvalError as exc:
            raise CelEvaluationError(_message(exc)) from exc
        except cel_library.CelFunctionError as exc:
            raise CelEvaluationError(str(exc)) from exc
        except RecursionError as exc:
            raise CelEvaluationError("the expression nests too deeply to evaluate") from exc
        if isinstance(result, CELEvalError):
            raise CelEvaluationError(_message(result))
        return result


# -- static checks ----------------------------------------------------------------------------


def _subtrees(ast: lark.Tree[Any]) -> Iterator[lark.Tree[Any]]:
    subtrees: Iterator[lark.Tree[Any]] = ast.iter_subtrees_topdown()  # type: ignore[no-untyped-call]
    return subtrees


def _token(node: Any) -> str:
    return str(node.value) if isinstance(node, lark.Token) else ""


def _bare_ident(tree: Any) -> str:
    """The identifier when ``tree`` (a member or primary) is just a name, else ''."""
    while isinstance(tree, lark.Tree) and tree.data in ("member", "primary") and len(tree.children) == 1:
        tree = tree.children[0]
    if isinstance(tree, lark.Tree) and tree.data == "ident":
        return _token(tree.children[0])
    return ""


def _arg_count(tree: lark.Tree[Any]) -> int:
    args = [c for c in tree.children if isinstance(c, lark.Tree) and c.data == "exprlist"]
    return len(args[0].children) if args else 0


def _unsupported(ast: lark.Tree[Any]) -> Iterator[str]:
    for tree in _subtrees(ast):
        if tree.data in ("ident_arg", "dot_ident_arg"):
            name = _token(tree.children[0])
            if name not in SUPPORTED:
                yield f"{name}()"
        elif tree.data == "member_dot_arg":
            yield from _unsupported_method(tree)
        elif tree.data == "ident":
            name = _token(tree.children[0])
            if name in _UNSUPPORTED_VARIABLES:
                yield _UNSUPPORTED_VARIABLES[name]


def _unsupported_fields(chains: tuple[tuple[str, ...], ...]) -> Iterator[str]:
    for chain in chains:
        if chain[:2] == ("request", "userInfo"):
            yield "request.userInfo (who sends a request is known only at admission)"


def _unsupported_method(tree: lark.Tree[Any]) -> Iterator[str]:
    name = _token(tree.children[1])
    owner = _bare_ident(tree.children[0])
    if owner in cel_library.NAMESPACES:
        if f"{owner}.{name}" not in cel_library.QUALIFIED:
            yield f"{owner}.{name}()"
    elif owner in ("cel", "math", "strings", "base64", "optional", "format", "semver", "ip", "cidr"):
        yield f"{owner}.{name}()"
    elif name in ("all", "exists", "exists_one", "map", "filter") and _arg_count(tree) > (
        3 if name in ("map", "filter") else 2
    ):
        yield f"{name}() with two variables (two-variable comprehensions)"
    elif name not in SUPPORTED:
        yield f"{name}()"


def _chain(tree: Any) -> list[str] | None:
    """``object.a.b`` as ['object', 'a', 'b'] when ``tree`` is such a field selection."""
    if not isinstance(tree, lark.Tree):
        return None
    if tree.data in ("member", "primary") and len(tree.children) == 1:
        return _chain(tree.children[0])
    if tree.data == "ident":
        return [_token(tree.children[0])]
    if tree.data == "member_dot":
        base = _chain(tree.children[0])
        return None if base is None else [*base, _token(tree.children[1])]
    return None


def _field_chains(ast: lark.Tree[Any]) -> tuple[tuple[str, ...], ...]:
    """Maximal ``a.b.c`` selections in source order (a selection inside a longer one is skipped)."""
    found: list[tuple[str, ...]] = []
    for tree in _subtrees(ast):
        if tree.data == "member_dot":
            chain = _chain(tree)
            if chain and not any(f[: len(chain)] == tuple(chain) for f in found):
                found.append(tuple(chain))
    return tuple(found)


# -- values -----------------------------------------------------------------------------------


class LazyMap(celtypes.MapType):
    """A map whose values are computed on first use (``variables`` of a policy)."""

    def __init__(self, compute: Mapping[str, Callable[[], Any]]) -> None:
        super().__init__({celtypes.StringType(k): None for k in compute})
        self._compute = dict(compute)
        self._done: dict[str, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        name = str(key)
        if name not in self._compute:
            raise KeyError(key)
        if name not in self._done:
            self._done[name] = self._compute[name]()
        value = self._done[name]
        if isinstance(value, Exception):
            raise value
        return value


def to_cel(value: Any) -> Any:
    """A YAML/JSON value as CEL values (anything else YAML may produce becomes a string)."""
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        if isinstance(value, list):
            return celtypes.ListType([to_cel(v) for v in value])
        if isinstance(value, dict):
            return celtypes.MapType({celtypes.StringType(str(k)): to_cel(v) for k, v in value.items()})
        return json_to_cel(value)
    if isinstance(value, datetime.date):
        return celtypes.StringType(value.isoformat())
    return celtypes.StringType(str(value))


def is_bool(value: Any) -> bool:
    return isinstance(value, celtypes.BoolType)


def is_true(value: Any) -> bool:
    """Whether a result is the CEL ``true`` (anything else fails a validation)."""
    return isinstance(value, celtypes.BoolType) and bool(value)


def error_value(message: str) -> Any:
    """A CEL error value: expressions that read it fail with ``message``."""
    return CELEvalError(message)


def to_python(value: Any) -> Any:
    """A CEL result as plain Python (for messages and JSON)."""
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, list):
        return [to_python(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_python(v) for k, v in value.items()}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


_OPERATORS = {
    "relation_lt": "_<_",
    "relation_le": "_<=_",
    "relation_gt": "_>_",
    "relation_ge": "_>=_",
    "relation_eq": "_==_",
    "relation_ne": "_!=_",
    "relation_in": "@in",
    "addition_add": "_+_",
    "addition_sub": "_-_",
    "multiplication_mul": "_*_",
    "multiplication_div": "_/_",
    "multiplication_mod": "_%_",
}


def _message(exc: CELEvalError) -> str:
    """cel-python's error text in cel-go's words, without the activation dump it appends."""
    cause = exc.__cause__
    if isinstance(cause, cel_library.CelFunctionError):
        return str(cause)
    text = str(exc.args[0]) if exc.args else str(exc)
    missing = re.match(r"no such member in mapping: '(.*)'", text)
    if missing:
        return f"no such key: {missing.group(1)}"
    if text.startswith("no such key") and len(exc.args) > 2 and exc.args[2]:
        return f"no such key: {exc.args[2][0]}"
    undeclared = re.match(r"undeclared reference to '?([^' ]+)'?", text)
    if undeclared:
        return f"undeclared reference to '{undeclared.group(1)}'"
    overload = re.match(r"found no matching overload for (?:Token\('RULE', )?'(\w+)'", text)
    if overload or text.startswith("no such overload"):
        operator = _OPERATORS.get(overload.group(1), overload.group(1)) if overload else ""
        return "no matching overload" + (f" for '{operator}'" if operator else "")
    return text.split(" (in activation")[0][:300]
