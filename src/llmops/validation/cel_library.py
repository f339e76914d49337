"""The Kubernetes CEL extension functions, for :mod:`llmops.validation.cel`.

The API server evaluates admission policies with cel-go plus libraries of its own. The
semantics below follow their sources (kubernetes ``staging/src/k8s.io/apiserver/pkg/cel/library``:
``quantity.go``, ``urls.go``, ``regex.go``, ``lists.go``; cel-go ``ext/strings.go`` and
``ext/sets.go``); the code is written here from those facts:

- strings: ``charAt``, ``indexOf``, ``lastIndexOf``, ``lowerAscii``, ``upperAscii``, ``replace``,
  ``split``, ``substring``, ``trim``, ``join``, ``reverse``;
- lists: ``isSorted``, ``sum``, ``min``, ``max``, ``indexOf``, ``lastIndexOf``;
- regex: ``find``, ``findAll`` (RE2 syntax, as CEL's ``matches``);
- URLs: ``url``, ``isURL``, ``getScheme``, ``getHost``, ``getHostname``, ``getPort``,
  ``getEscapedPath``, ``getQuery``;
- quantities: ``quantity``, ``isQuantity``, ``sign``, ``isInteger``, ``asInteger``,
  ``asApproximateFloat``, ``add``, ``sub``, ``isLessThan``, ``isGreaterThan``, ``compareTo``
  (and ``==`` between quantities compares their values);
- sets: ``sets.contains``, ``sets.equivalent``, ``sets.intersects``;
- ``dyn`` (the identity at run time).

Anything else a policy calls is reported by name as unsupported (see ``cel.py``), never
evaluated as a silent pass. A function raising :class:`CelFunctionError` becomes the
evaluation error of the expression, as cel-go's ``types.NewErr`` does.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import re2
from celpy import celtypes
from celpy.evaluation import CELEvalError

__all__ = ["FUNCTIONS", "NAMESPACES", "QUALIFIED", "CelFunctionError", "Quantity", "Url", "parse_quantity"]


class CelFunctionError(ValueError):
    """A library function refused its input (the message is what the policy author sees).

    A ``ValueError``, so that cel-python turns it into an error value that ``||`` and ``&&``
    can absorb (``true || quantity('x')`` is true), as cel-go does.
    """


# -- quantities -------------------------------------------------------------------------------

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
# resource.ParseQuantity: sign, digits with an optional fraction, then a suffix (binary SI,
# decimal SI or a decimal exponent).
_QUANTITY = re.compile(r"^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Quantity:
    """A Kubernetes resource quantity (``resource.Quantity``), compared by value."""

    value: Fraction
    text: str

    def __str__(self) -> str:
        return self.text


def parse_quantity(text: str) -> Quantity:
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        # resource.ParseQuantity's own wording
        raise CelFunctionError(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    sign, number, suffix = match.group(1), match.group(2), match.group(3) or ""
    value = Fraction(number if not number.startswith(".") else "0" + number)
    if suffix in _BINARY:
        value *= _BINARY[suffix]
    elif suffix[:1] in ("e", "E"):
        value *= Fraction(10) ** int(suffix[1:])
    else:
        value *= _DECIMAL[suffix]
    return Quantity(-value if sign == "-" else value, text)


def _quantity(text: Any) -> Quantity:
    return parse_quantity(str(text))


def _is_quantity(text: Any) -> celtypes.BoolType:
    try:
        parse_quantity(str(text))
    except CelFunctionError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


def _as_quantity(value: Any) -> Quantity:
    if isinstance(value, Quantity):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Quantity(Fraction(int(value)), str(int(value)))
    raise TypeError(f"no such overload for a quantity and {type(value).__name__}")


def _q_add(q: Quantity, other: Any) -> Quantity:
    total = q.value + _as_quantity(other).value
    return Quantity(total, _fraction_text(total))


def _q_sub(q: Quantity, other: Any) -> Quantity:
    total = q.value - _as_quantity(other).value
    return Quantity(total, _fraction_text(total))


def _fraction_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(float(value))


def _q_as_integer(q: Quantity) -> celtypes.IntType:
    if q.value.denominator != 1 or not -(2**63) <= q.value <= 2**63 - 1:
        raise CelFunctionError("cannot convert value to integer")
    return celtypes.IntType(q.value.numerator)


def _compare(q: Quantity, other: Any) -> int:
    if not isinstance(q, Quantity) or not isinstance(other, Quantity):
        raise TypeError("no such overload: quantities compare with quantities")
    return (q.value > other.value) - (q.value < other.value)


_QUANTITY_METHODS: dict[str, Callable[..., Any]] = {
    "sign": lambda q: celtypes.IntType((q.value > 0) - (q.value < 0)),
    "isInteger": lambda q: celtypes.BoolType(q.value.denominator == 1),
    "asInteger": _q_as_integer,
    "asApproximateFloat": lambda q: celtypes.DoubleType(float(q.value)),
    "add": _q_add,
    "sub": _q_sub,
    "isLessThan": lambda q, o: celtypes.BoolType(_compare(q, o) < 0),
    "isGreaterThan": lambda q, o: celtypes.BoolType(_compare(q, o) > 0),
    "compareTo": lambda q, o: celtypes.IntType(_compare(q, o)),
}


# -- URLs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Url:
    """A parsed URL (Go's ``url.ParseRequestURI``: an absolute URI or an absolute path)."""

    text: str
    scheme: str
    netloc: str
    path: str
    query: str


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _parse_url(text: Any) -> Url:
    text = str(text)
    parts = urlsplit(text)
    control = any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)  # Go refuses control characters
    if not (_SCHEME.match(text) or text.startswith("/")) or control or " " in parts.netloc:
        raise CelFunctionError(f"URL parse error during conversion from string: parse {text!r}: invalid URI")
    return Url(text, parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query)


def _is_url(text: Any) -> celtypes.BoolType:
    try:
        _parse_url(text)
    except CelFunctionError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


def _hostname(u: Url) -> str:
    host = u.netloc
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    return host.partition(":")[0]


def _port(u: Url) -> str:
    host = u.netloc
    if host.startswith("["):
        rest = host[host.find("]") + 1 :] if "]" in host else ""
        return rest[1:] if rest.startswith(":") else ""
    return host.partition(":")[2]


def _query(u: Url) -> celtypes.MapType:
    parsed = parse_qs(u.query, keep_blank_values=True)
    return celtypes.MapType(
        {
            celtypes.StringType(k): celtypes.ListType([celtypes.StringType(v) for v in vs])
            for k, vs in parsed.items()
        }
    )


_URL_METHODS: dict[str, Callable[..., Any]] = {
    "getScheme": lambda u: celtypes.StringType(u.scheme),
    "getHost": lambda u: celtypes.StringType(u.netloc),
    "getHostname": lambda u: celtypes.StringType(_hostname(u)),
    "getPort": lambda u: celtypes.StringType(_port(u)),
    "getEscapedPath": lambda u: celtypes.StringType(quote(u.path, safe="/:@!$&'()*+,;=-._~%")),
    "getQuery": _query,
}


# -- strings (cel-go ext.Strings) ----------------------------------------------------------------


def _str(value: Any, what: str = "string") -> str:
    if not isinstance(value, str):
        raise TypeError(f"no such overload: {what} expected, got {type(value).__name__}")
    return value


def _index_range(text: str, index: int, *, end: bool = False) -> None:
    if index < 0 or index > len(text):
        raise CelFunctionError(f"index out of range: {index}")


def _char_at(s: Any, i: Any) -> celtypes.StringType:
    text = _str(s)
    _index_range(text, int(i))
    return celtypes.StringType(text[int(i)] if int(i) < len(text) else "")


def _string_index_of(text: str, sub: Any, offset: int = 0) -> celtypes.IntType:
    _index_range(text, offset)
    return celtypes.IntType(text.find(_str(sub), offset))


def _string_last_index_of(text: str, sub: Any, offset: int | None = None) -> celtypes.IntType:
    if offset is None:
        return celtypes.IntType(text.rfind(_str(sub)))
    _index_range(text, offset)
    return celtypes.IntType(text.rfind(_str(sub), 0, offset + len(_str(sub))))


def _index_of(target: Any, item: Any, *offset: Any) -> celtypes.IntType:
    if isinstance(target, str):
        return _string_index_of(target, item, int(offset[0]) if offset else 0)
    if isinstance(target, list):
        return celtypes.IntType(next((i for i, v in enumerate(target) if _equal(v, item)), -1))
    raise TypeError("no such overload: indexOf")


def _last_index_of(target: Any, item: Any, *offset: Any) -> celtypes.IntType:
    if isinstance(target, str):
        return _string_last_index_of(target, item, int(offset[0]) if offset else None)
    if isinstance(target, list):
        found = [i for i, v in enumerate(target) if _equal(v, item)]
        return celtypes.IntType(found[-1] if found else -1)
    raise TypeError("no such overload: lastIndexOf")


def _replace(s: Any, old: Any, new: Any, n: Any = -1) -> celtypes.StringType:
    return celtypes.StringType(_str(s).replace(_str(old), _str(new), int(n)))


def _split(s: Any, sep: Any, n: Any = -1) -> celtypes.ListType:
    text, separator, limit = _str(s), _str(sep), int(n)
    if limit == 0:
        return celtypes.ListType([])
    if separator == "":  # Go's strings.SplitN with an empty separator splits into characters
        parts = list(text) if limit < 0 else [*text[: limit - 1], text[limit - 1 :]] if text else []
    else:
        parts = text.split(separator, limit - 1 if limit > 0 else -1)
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _substring(s: Any, start: Any, end: Any = None) -> celtypes.StringType:
    text = _str(s)
    first, last = int(start), len(text) if end is None else int(end)
    _index_range(text, first)
    _index_range(text, last)
    if first > last:
        raise CelFunctionError(f"invalid substring range. start: {first}, end: {last}")
    return celtypes.StringType(text[first:last])


def _join(items: Any, sep: Any = "") -> celtypes.StringType:
    if not isinstance(items, list):
        raise TypeError("no such overload: join applies to a list of strings")
    return celtypes.StringType(_str(sep).join(_str(i) for i in items))


_STRING_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "charAt": _char_at,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "lowerAscii": lambda s: celtypes.StringType("".join(c.lower() if c.isascii() else c for c in _str(s))),
    "upperAscii": lambda s: celtypes.StringType("".join(c.upper() if c.isascii() else c for c in _str(s))),
    "replace": _replace,
    "split": _split,
    "substring": _substring,
    "trim": lambda s: celtypes.StringType(_str(s).strip()),
    "join": _join,
    "reverse": lambda s: celtypes.StringType(_str(s)[::-1]),
}


# -- lists (Kubernetes library.Lists) ----------------------------------------------------------


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"no such overload: list expected, got {type(value).__name__}")
    return value


def _comparable(items: list[Any]) -> list[Any]:
    kinds = {type(i) for i in items}
    if len(kinds) > 1 and not all(issubclass(k, int | float) for k in kinds):
        raise TypeError("no such overload: list elements of different types")
    return items


def _is_sorted(items: Any) -> celtypes.BoolType:
    values = _comparable(_list(items))
    return celtypes.BoolType(all(a <= b for a, b in itertools.pairwise(values)))


def _sum(items: Any) -> Any:
    values = _comparable(_list(items))
    if not values:
        return celtypes.IntType(0)
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


def _extreme(name: str, pick: Callable[[Iterable[Any]], Any]) -> Callable[[Any], Any]:
    def fn(items: Any) -> Any:
        values = _comparable(_list(items))
        if not values:
            raise CelFunctionError(f"{name} called on empty list")
        return pick(values)

    return fn


_LIST_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "isSorted": _is_sorted,
    "sum": _sum,
    "max": _extreme("max", max),
    # `.min()` with no argument is evaluated by cel-python itself (the same result).
}


# -- regex (Kubernetes library.Regex) ----------------------------------------------------------


def _compile_re2(pattern: Any) -> Any:
    try:
        return re2.compile(_str(pattern))
    except re2.error as exc:
        raise CelFunctionError(f"regex compilation error: {exc}") from exc


def _find(s: Any, pattern: Any) -> celtypes.StringType:
    match = _compile_re2(pattern).search(_str(s))
    return celtypes.StringType(match.group(0) if match else "")


def _find_all(s: Any, pattern: Any, limit: Any = -1) -> celtypes.ListType:
    found = [m.group(0) for m in _compile_re2(pattern).finditer(_str(s))]
    if int(limit) >= 0:
        found = found[: int(limit)]
    return celtypes.ListType([celtypes.StringType(f) for f in found])


# -- sets (cel-go ext.Sets), called as sets.NAME(a, b) -------------------------------------------


class Namespace:
    """The value of a namespace identifier such as ``sets``: methods on it are qualified functions."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


def _contains_all(a: list[Any], b: list[Any]) -> bool:
    return all(any(_equal(x, y) for x in a) for y in b)


_SETS: dict[str, Callable[[list[Any], list[Any]], bool]] = {
    "contains": _contains_all,
    "equivalent": lambda a, b: _contains_all(a, b) and _contains_all(b, a),
    "intersects": lambda a, b: any(any(_equal(x, y) for x in a) for y in b),
}
NAMESPACES = {"sets": Namespace("sets")}
QUALIFIED = frozenset(f"sets.{name}" for name in _SETS)


# -- equality and ordering across numeric types (cel-go's heterogeneous equality) ---------------


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b) if type(a) is not type(b) else bool(a == b)
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        return a.value == b.value
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is None and b is None
    if type(a) is not type(b) and not (isinstance(a, str) and isinstance(b, str)):
        return False
    return bool(a == b)


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], celtypes.BoolType]:
    def compare(a: Any, b: Any) -> celtypes.BoolType:
        if isinstance(a, bool) or isinstance(b, bool):
            if type(a) is not type(b):
                raise TypeError("no such overload for ordering")
        elif isinstance(a, int | float) and isinstance(b, int | float):
            return celtypes.BoolType(op(float(a), float(b)) if type(a) is not type(b) else op(a, b))
        elif type(a) is not type(b) or isinstance(a, Quantity | Url | list | dict):
            raise TypeError(f"no such overload for ordering {type(a).__name__} and {type(b).__name__}")
        return celtypes.BoolType(op(a, b))

    return compare


def _contains(target: Any, *args: Any) -> Any:
    if isinstance(target, Namespace):
        return celtypes.BoolType(_SETS["contains"](_list(args[0]), _list(args[1])))
    return celtypes.BoolType(_str(target).find(_str(args[0])) >= 0)


def _namespaced(name: str) -> Callable[..., Any]:
    def call(target: Any, a: Any, b: Any) -> celtypes.BoolType:
        if not isinstance(target, Namespace):
            raise TypeError(f"no such overload: {name}")
        return celtypes.BoolType(_SETS[name](_list(a), _list(b)))

    return call


def _method(table: dict[str, Callable[..., Any]], kind: type, name: str) -> Callable[..., Any]:
    def call(target: Any, *args: Any) -> Any:
        if not isinstance(target, kind):
            raise TypeError(f"no such overload: {name} applies to a {kind.__name__}")
        return table[name](target, *args)

    return call


def _propagating(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """An operator that passes an operand's evaluation error on (cel-python calls operators with it)."""

    def call(a: Any, b: Any) -> Any:
        for operand in (a, b):
            if isinstance(operand, CELEvalError):
                return operand
        return fn(a, b)

    return call


FUNCTIONS: dict[str, Callable[..., Any]] = {
    **_STRING_FUNCTIONS,
    **_LIST_FUNCTIONS,
    "find": _find,
    "findAll": _find_all,
    "url": _parse_url,
    "isURL": _is_url,
    **{name: _method(_URL_METHODS, Url, name) for name in _URL_METHODS},
    "quantity": _quantity,
    "isQuantity": _is_quantity,
    **{name: _method(_QUANTITY_METHODS, Quantity, name) for name in _QUANTITY_METHODS},
    "contains": _contains,
    "equivalent": _namespaced("equivalent"),
    "intersects": _namespaced("intersects"),
    "dyn": lambda v: v,
    "_==_": _propagating(lambda a, b: celtypes.BoolType(_equal(a, b))),
    "_!=_": _propagating(lambda a, b: celtypes.BoolType(not _equal(a, b))),
    "_<_": _propagating(_ordered(lambda a, b: a < b)),
    "_<=_": _propagating(_ordered(lambda a, b: a <= b)),
    "_>_": _propagating(_ordered(lambda a, b: a > b)),
    "_>=_": _propagating(_ordered(lambda a, b: a >= b)),
}
