"""`llmops smoke` and `llmops bench` against endpoints that misbehave (local servers on 127.0.0.1).

A stream that never stops, a body that never ends, JSON of the wrong shape, a server that
never answers, credentials in the URL: each ends as a FAIL (or one error line) that says
why, within the deadline, and never shows the password.
"""

from __future__ import annotations

import itertools
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from testing import servers

from llmops.errors import EndpointError
from llmops.probes.endpoint import Endpoint

MODELS = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]})
CHAT = json.dumps(
    {
        "choices": [{"message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1},
    }
)
DONE = [
    b'data: {"choices":[{"delta":{"content":"hi"},"finish_reason":null}]}\n\n',
    b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n',
    b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1}}\n\n',
    b"data: [DONE]\n\n",
]


def endpoint(chat: Any = None, stream: Any = None) -> servers.Handler:
    """An OpenAI-like server whose chat answers (plain and streamed) the test chooses."""

    def handle(method: str, path: str) -> tuple[int, dict[str, str], Any]:
        if path == "/health":
            return 200, {}, [b""]
        if path == "/v1/models":
            return servers.json_answer(MODELS)
        handle.calls += 1  # type: ignore[attr-defined]
        if handle.calls % 2 == 1:  # type: ignore[attr-defined]  # chat, then stream
            return chat() if callable(chat) else servers.json_answer(chat or CHAT)
        return 200, {"Content-Type": "text/event-stream"}, stream() if callable(stream) else (stream or DONE)

    handle.calls = 0  # type: ignore[attr-defined]
    return handle


def forever() -> Iterator[bytes]:
    for _ in itertools.count():
        yield b'data: {"choices":[{"delta":{"content":"la"},"finish_reason":null}]}\n\n'
        time.sleep(0.02)


def endless_body() -> tuple[int, dict[str, str], Iterator[bytes]]:
    return 200, {"Content-Type": "application/json"}, (b"x" * 2**20 for _ in itertools.count())


def checks(result: Any) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in result.json()["checks"]}


def test_a_stream_that_never_stops_ends_at_the_deadline(cli) -> None:
    with servers.Scripted(endpoint(stream=forever)) as server:
        result = cli("smoke", "--url", server.url, "--deadline", "3", "--timeout", "1", "-o", "json")
    assert result.code == 1, result.err
    found = checks(result)
    assert found["chat"]["status"] == "pass"
    assert found["stream"]["status"] == "fail"
    assert found["stream"]["detail"] == "POST /v1/chat/completions did not finish within the deadline of 3s"
    assert found["latency"]["status"] == "skip" and "the deadline passed" in found["latency"]["detail"]


def test_a_body_that_never_ends_is_cut_at_the_size_cap(cli) -> None:
    with servers.Scripted(endpoint(chat=endless_body)) as server:
        result = cli("smoke", "--url", server.url, "--deadline", "60", "-o", "json")
    assert result.code == 1, result.err
    chat = checks(result)["chat"]
    assert chat["status"] == "fail"
    assert chat["detail"] == "POST /v1/chat/completions answered more than 16 MiB: stopped reading"


def test_a_stream_line_that_never_ends_is_cut(cli) -> None:
    def endless_line() -> Iterator[bytes]:
        yield b"data: "
        for _ in itertools.count():
            yield b"x" * 65536

    with servers.Scripted(endpoint(stream=endless_line)) as server:
        result = cli("smoke", "--url", server.url, "-o", "json")
    assert result.code == 1, result.err
    stream = checks(result)["stream"]
    assert stream["status"] == "fail"
    assert stream["detail"] == "the stream sent a line of more than 1,048,576 characters"


WRONG_CHAT = {
    "a string for a choice": ('{"choices":["x"]}', "the chat answer's choices[0] is a string, not an object"),
    "a string for the message": (
        '{"choices":[{"message":"hi","finish_reason":"stop"}]}',
        "the chat answer's choices[0].message is a string, not an object",
    ),
    "a string for the usage": (
        '{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],"usage":"x"}',
        "the chat answer.usage is a string, not an object",
    ),
    "a list for the answer": ("[1, 2]", "/v1/chat/completions returned list, not an object"),
    "a deep list": ("[" * 100_000 + "]" * 100_000, "/v1/chat/completions did not return JSON"),
}


@pytest.mark.parametrize("case", sorted(WRONG_CHAT))
def test_a_chat_answer_of_the_wrong_shape_is_a_one_line_failure(cli, case: str) -> None:
    body, reason = WRONG_CHAT[case]
    with servers.Scripted(endpoint(chat=body)) as server:
        result = cli("smoke", "--url", server.url, "-o", "json")
    assert result.code == 1 and "internal error" not in result.err, result.err
    chat = checks(result)["chat"]
    assert chat["status"] == "fail" and chat["detail"].startswith(reason), chat
    assert "\n" not in chat["detail"]


WRONG_STREAM = {
    "a string for a choice": ('{"choices":["x"]}', "stream chunk 1's choices[0] is a string, not an object"),
    "a string for the delta": (
        '{"choices":[{"delta":"str"}]}',
        "stream chunk 1's choices[0].delta is a string, not an object",
    ),
    "a string for the usage": (
        '{"choices":[],"usage":"x"}',
        "stream chunk 1.usage is a string, not an object",
    ),
    "a number for the content": (
        '{"choices":[{"delta":{"content":7}}]}',
        "stream chunk 1's delta.content is a number, not a string",
    ),
}


@pytest.mark.parametrize("case", sorted(WRONG_STREAM))
def test_a_stream_chunk_of_the_wrong_shape_is_a_one_line_failure(cli, case: str) -> None:
    chunk, reason = WRONG_STREAM[case]
    with servers.Scripted(endpoint(stream=[f"data: {chunk}\n\n".encode(), b"data: [DONE]\n\n"])) as server:
        result = cli("smoke", "--url", server.url, "-o", "json")
    assert result.code == 1 and "internal error" not in result.err, result.err
    stream = checks(result)["stream"]
    assert stream["status"] == "fail" and stream["detail"] == reason, stream


def test_a_password_in_the_url_appears_in_no_output(cli) -> None:
    secret = "s3cr3t-PASSWORD"
    with servers.Scripted(endpoint()) as server:
        url = server.url.replace("http://", f"http://alice:{secret}@")
        outputs = [cli("smoke", "--url", url, "-o", fmt) for fmt in ("text", "json", "junit")]
    assert all(r.code == 0 for r in outputs), [r.err for r in outputs]
    assert "alice" not in outputs[1].json()["url"]
    ET.fromstring(outputs[2].out.split("\n", 1)[1])
    with servers.Silent() as silent:
        url = silent.url.replace("http://", f"http://alice:{secret}@")
        timed_out = cli("smoke", "--url", url, "--timeout", "0.5", "--retries", "0", "-o", "text")
    assert timed_out.code == 1 and "timed out" in timed_out.out
    refused = cli("smoke", "--url", f"http://alice:{secret}@127.0.0.1:1", "--retries", "0")
    invalid = cli("smoke", "--url", f"http://alice:{secret}@127.0.0.1:99999")
    for result in [*outputs, timed_out, refused, invalid]:
        assert secret not in result.out + result.err, result


def test_bench_honours_its_deadline_against_a_server_that_never_answers(cli) -> None:
    with servers.Silent() as silent:
        result = cli("bench", "--url", silent.url, "--deadline", "1")
    assert result.code == 2
    assert result.error_lines == ["error: GET /v1/models did not finish within the deadline of 1s"]


# -- any shape an endpoint can send (hypothesis) ----------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(
            ["choices", "message", "delta", "content", "usage", "finish_reason", "prompt_tokens",
             "completion_tokens", "error", "data", "id", "x"]
        ),
        inner,
        max_size=4,
    ),
    max_leaves=12,
)  # fmt: skip


def _mock(body: bytes, content_type: str) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda _r: httpx.Response(200, content=body, headers={"content-type": content_type})
    )


@settings(max_examples=300, deadline=None)
@given(answer=json_values)
def test_any_chat_answer_is_a_completion_or_an_endpoint_error(answer: Any) -> None:
    with Endpoint(
        "http://model.invalid", transport=_mock(json.dumps(answer).encode(), "application/json")
    ) as ep:
        try:
            ep.chat("m", "hi")
        except EndpointError as exc:
            assert "\n" not in exc.message


@settings(max_examples=300, deadline=None)
@given(
    payloads=st.lists(json_values.map(json.dumps) | st.text(max_size=20), max_size=5),
    framing=st.lists(st.sampled_from(["\n\n", "\n", "\r\n", "\r", ""]), min_size=6, max_size=6),
    prefix=st.sampled_from(["data: ", "data:", "event: x\ndata: ", ": comment\ndata: "]),
)
def test_any_event_stream_is_a_completion_or_an_endpoint_error(
    payloads: list[str], framing: list[str], prefix: str
) -> None:
    body = "".join(prefix + p + framing[i] for i, p in enumerate(payloads)) + "data: [DONE]\n\n"
    with Endpoint("http://model.invalid", transport=_mock(body.encode(), "text/event-stream")) as ep:
        try:
            ep.stream_chat("m", "hi")
        except EndpointError as exc:
            assert "\n" not in exc.message
