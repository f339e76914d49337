"""A client that sends chat requests to an endpoint in a loop (streamed and not, in turn) and records
each outcome: what a user of an environment sees during a redeploy (tests and benchmarks)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Outcome:
    started: float  # monotonic
    ended: float
    streamed: bool
    ok: bool
    detail: str = ""


@dataclass
class ChatLoop:
    url: str
    model: str
    max_tokens: int = 8
    pause_s: float = 0.1  # between two requests: a steady user, not a load test
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _one(self, client: httpx.Client, streamed: bool) -> Outcome:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": self.max_tokens,
            "stream": streamed,
        }
        started = time.monotonic()
        try:
            if not streamed:
                r = client.post(self.url + "/v1/chat/completions", json=body)
                ok = r.status_code == 200 and bool(r.json().get("choices"))
                return Outcome(
                    started, time.monotonic(), False, ok, "" if ok else f"{r.status_code} {r.text[:200]}"
                )
            chunks, done = 0, False
            with client.stream("POST", self.url + "/v1/chat/completions", json=body) as r:
                if r.status_code != 200:
                    r.read()
                    return Outcome(started, time.monotonic(), True, False, f"{r.status_code} {r.text[:200]}")
                for line in r.iter_lines():
                    if line == "data: [DONE]":
                        done = True
                    elif line.startswith("data:"):
                        json.loads(line[5:])
                        chunks += 1
            ok = done and chunks > 0
            return Outcome(
                started, time.monotonic(), True, ok, "" if ok else f"stream ended early ({chunks} chunks)"
            )
        except (httpx.HTTPError, ValueError) as exc:
            return Outcome(started, time.monotonic(), streamed, False, f"{type(exc).__name__}: {exc}")

    def _run(self) -> None:
        streamed = False
        with httpx.Client(timeout=120) as client:
            while not self._stop.is_set():
                self.outcomes.append(self._one(client, streamed))
                streamed = not streamed
                self._stop.wait(self.pause_s)

    def start(self) -> ChatLoop:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(180)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def gap_s(self) -> float:
        """From the first failed request's start to the end of the last failed one (0: none failed)."""
        failed = self.failures
        return max(o.ended for o in failed) - min(o.started for o in failed) if failed else 0.0
