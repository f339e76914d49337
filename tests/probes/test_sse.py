"""Server-sent events are split only at CR, LF and CRLF (model output may hold U+2028 or U+0085)."""

from __future__ import annotations

import json

import httpx
from hypothesis import given
from hypothesis import strategies as st

from llmops.probes.endpoint import Endpoint, sse_lines

_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12
)


@given(
    lines=st.lists(_TEXT, min_size=1, max_size=8),
    eols=st.lists(st.sampled_from(["\n", "\r", "\r\n"]), min_size=8, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6),
)
def test_lines_survive_any_chunking(lines: list[str], eols: list[str], cuts: list[int]) -> None:
    # A lone CR followed by an empty line's LF would read as one CRLF: SSE's own ambiguity.
    ends = [
        "\r\n" if eols[i] == "\r" and i + 1 < len(lines) and lines[i + 1] == "" else eols[i]
        for i in range(len(lines))
    ]
    stream = "".join(line + ends[i] for i, line in enumerate(lines))
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert list(sse_lines(c for c in chunks if c)) == lines


def test_a_streamed_answer_with_unicode_line_separators_keeps_its_text() -> None:
    answer = ["Hello", "\u2028", "wor\x85ld", "\u2029!"]
    events = [
        "data: "
        + json.dumps({"choices": [{"delta": {"content": t}, "finish_reason": None}]}, ensure_ascii=False)
        for t in answer
    ]
    events.append("data: " + json.dumps({"choices": [{"delta": {}, "finish_reason": "length"}]}))
    events.append(
        "data: " + json.dumps({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
    )
    body = "\n\n".join([*events, "data: [DONE]"]) + "\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})

    with Endpoint("http://model.invalid", transport=httpx.MockTransport(handler)) as ep:
        done = ep.stream_chat("demo", "hi")
    assert done.content == "".join(answer)
    assert done.finish_reason == "length"
    assert done.completion_tokens == 4
