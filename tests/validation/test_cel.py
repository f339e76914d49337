"""CEL as the API server evaluates it: the Kubernetes libraries, errors, and what llmops refuses to guess.

Expected values are the ones the Kubernetes CEL documentation (and cel-go's extension docs)
give for these calls.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmops.validation import cel, cel_library

OBJECT = {
    "metadata": {"name": "gateway", "labels": {"app": "gateway"}},
    "spec": {"replicas": 3, "ports": [80, 443], "resources": {"limits": {"nvidia.com/gpu": 1}}},
}


def evaluate(source: str) -> Any:
    values = {"object": cel.to_cel(OBJECT), **cel_library.NAMESPACES}
    return cel.to_python(cel.compile(source).evaluate(values))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # strings (cel-go ext.Strings)
        ("'hello'.charAt(4)", "o"),
        ("'hello mellow'.indexOf('ello', 2)", 7),
        ("'hello mellow'.lastIndexOf('ello', 6)", 1),
        ("'TacoCat'.lowerAscii()", "tacocat"),
        ("'TacoCat'.upperAscii()", "TACOCAT"),
        ("'hello hello'.replace('he', 'we', 1)", "wello hello"),
        ("'hello hello hello'.split(' ', 2)", ["hello", "hello hello"]),
        ("'tacocat'.substring(4, 6)", "ca"),
        ("'  \\ttrim\\n    '.trim()", "trim"),
        ("['hello', 'mellow'].join(' ')", "hello mellow"),
        # lists (Kubernetes library.Lists)
        ("[1, 2, 3].isSorted()", True),
        ("[2, 1].isSorted()", False),
        ("[1, 2, 3].sum()", 6),
        ("[1, 2, 3].max()", 3),
        ("[3, 1, 2].min()", 1),
        ("[1, 2, 2, 3].indexOf(2)", 1),
        ("[1, 2, 2, 3].lastIndexOf(2)", 2),
        # regex (Kubernetes library.Regex)
        ("'abc 123'.find('[0-9]+')", "123"),
        ("'123 abc 456'.findAll('[0-9]+')", ["123", "456"]),
        ("'123 abc 456'.findAll('[0-9]+', 1)", ["123"]),
        # URLs (Kubernetes library.URLs)
        ("url('https://example.com:80/').getHost()", "example.com:80"),
        ("url('https://[::1]:80/').getHostname()", "::1"),
        ("url('https://example.com:80/').getPort()", "80"),
        ("url('https://example.com/path with spaces/').getEscapedPath()", "/path%20with%20spaces/"),
        ("url('https://example.com/path?k1=a&k2=b&k2=c').getQuery()", {"k1": ["a"], "k2": ["b", "c"]}),
        ("isURL('https://example.com')", True),
        ("isURL('example.com')", False),
        ("url('oci://quay.io/org/model:tag').getScheme()", "oci"),
        # quantities (Kubernetes library.Quantity)
        ("quantity('1Mi').isGreaterThan(quantity('1M'))", True),
        ("quantity('50k').add(20).compareTo(quantity('50020'))", 0),
        ("quantity('100m').isInteger()", False),
        ("quantity('1.5G').asInteger()", 1500000000),
        ("quantity('-5').sign()", -1),
        ("quantity('200M').asApproximateFloat() == 200000000.0", True),
        ("quantity('1') == quantity('1000m')", True),
        ("quantity('1Gi').isLessThan(quantity('1G'))", False),
        ("isQuantity('10Gi') && !isQuantity('ten')", True),
        # sets (cel-go ext.Sets)
        ("sets.contains([1, 2, 3, 4], [2, 3])", True),
        ("sets.equivalent([1, 2, 3], [3, 2, 1])", True),
        ("sets.intersects([1], [2, 3])", False),
        # cel-go's runtime equality and ordering across numeric types
        ("1 == 1.0", True),
        ("object.spec.replicas < 3.5", True),
        ("object.spec.replicas == 'three'", False),
        # the object, macros and CEL's error absorption
        ("object.spec.ports.all(p, p > 0) && 443 in object.spec.ports", True),
        ("has(object.spec.paused)", False),
        ("true || quantity('not a quantity')", True),
        ("'app' in object.metadata.labels && object.metadata.labels.app.startsWith('gate')", True),
    ],
)
def test_kubernetes_cel_functions_give_the_documented_results(source: str, expected: Any) -> None:
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("object.spec.paused == false", "no such key: paused"),
        ("quantity('ten') == quantity('10')", "quantities must match the regular expression"),
        ("quantity('1.5').asInteger() > 0", "cannot convert value to integer"),
        ("[].max() > 0", "max called on empty list"),
        ("object.spec.replicas > 'three'", "no matching overload for '_>_'"),
        ("url('no scheme') == url('x:')", "URL parse error"),
    ],
)
def test_runtime_errors_carry_the_api_servers_words(source: str, message: str) -> None:
    with pytest.raises(cel.CelEvaluationError) as err:
        evaluate(source)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("authorizer.group('apps').resource('deployments').check('create').allowed()", "authorizer"),
        ("request.userInfo.username == 'admin'", "request.userInfo"),
        ("cel.bind(r, object.spec.replicas, r > 1)", "cel.bind()"),
        ("object.?spec.?replicas.orValue(1) > 0", "optional types"),
        ("object.spec.ports.all(i, p, p > i)", "two-variable comprehensions"),
        ("object.spec.ports.transformList(i, p, p * 2).size() > 0", "transformList()"),
        ("ip('10.0.0.1').family() == 4", "ip()"),
        ("'%s'.format(['x']) == 'x'", "format()"),
        ("math.greatest(1, 2) == 2", "math.greatest()"),
    ],
)
def test_an_unsupported_function_is_named_never_passed(source: str, named: str) -> None:
    with pytest.raises(cel.CelUnsupportedError) as err:
        cel.compile(source)
    assert named in str(err.value)


def test_a_syntax_error_is_a_compile_error_and_long_expressions_are_refused() -> None:
    with pytest.raises(cel.CelCompileError, match="does not parse"):
        cel.compile("object.spec.replicas <")
    with pytest.raises(cel.CelCompileError, match="longer than"):
        cel.compile("1 + " * 2000 + "1")


def test_lazy_variables_are_computed_once_and_pass_errors_on() -> None:
    calls: list[str] = []

    def replicas() -> Any:
        calls.append("replicas")
        return cel.compile("object.spec.replicas").evaluate({"object": cel.to_cel(OBJECT)})

    values = {
        "object": cel.to_cel(OBJECT),
        "variables": cel.LazyMap({"replicas": replicas, "broken": lambda: cel.error_value("no such key: x")}),
    }
    assert cel.to_python(cel.compile("variables.replicas + variables.replicas").evaluate(values)) == 6
    assert calls == ["replicas"]
    with pytest.raises(cel.CelEvaluationError, match="no such key: x"):
        cel.compile("variables.broken == 1").evaluate(values)


def test_the_field_an_expression_reads_is_known_for_locating_findings() -> None:
    program = cel.compile("has(object.spec.replicas) && object.spec.replicas >= 2")
    assert program.object_path == ("spec", "replicas")
    assert cel.compile("variables.model.storageUri != ''").path_under("variables") == ("model", "storageUri")
