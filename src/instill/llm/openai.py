"""The `openai` backend: any OpenAI-compatible HTTP endpoint (vLLM, llama.cpp server, `instill serve`, a hosted API).

One request per prompt, at most `max_concurrency` in flight (threads over one pooled httpx client). A 429, 408 or
5xx answer, a timeout or a failed connection is retried with exponential backoff and jitter (a server's
Retry-After is honoured up to the cap); any other 4xx stops at once with the server's own message.
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Sequence

import httpx

from instill.errors import InstillError
from instill.llm.base import Completion, ChatTurn, SamplingParams
from instill.llm.load import OpenAIBackendConfig

# the backend's defaults are its config schema's (one place: llm/load.py)
_DEFAULT = {name: f.default for name, f in OpenAIBackendConfig.model_fields.items()}


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (0-based): base * 2**attempt, capped, times a random factor in
    [0.5, 1] so clients that failed together do not retry together.

    >>> backoff_delay(3, 0.5, 30.0, random.Random(0)) <= 4.0
    True
    """
    return min(cap_s, base_s * 2**attempt) * rng.uniform(0.5, 1.0)


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _server_message(r: httpx.Response) -> str:
    """The `error.message` of an OpenAI-shaped body, else the start of the body."""
    try:
        err = r.json().get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except (ValueError, AttributeError):
        pass
    return r.text.strip()[:200] or r.reason_phrase


def _finish(reason: Any) -> str:
    return "length" if reason == "length" else "stop"


class OpenAIBackend:
    """Talk to an OpenAI-compatible server.

    Args:
        base_url: the API root, /v1 included, e.g. http://127.0.0.1:8000/v1 (as the official client expects).
        model: the model name the server knows.
        api_key: sent as `Authorization: Bearer`; None sends no header.
        max_concurrency: requests in flight at once.
        max_retries: retries after the first attempt of a request.
        backoff_s / max_backoff_s: the first retry waits about `backoff_s`, doubling up to `max_backoff_s`.
        timeout_s: per attempt.
    """

    def __init__(
        self, base_url: str, model: str, api_key: str | None = None, *,
        max_concurrency: int = _DEFAULT["max_concurrency"], max_retries: int = _DEFAULT["max_retries"],
        backoff_s: float = _DEFAULT["backoff_s"], max_backoff_s: float = _DEFAULT["max_backoff_s"],
        timeout_s: float = _DEFAULT["timeout_s"], seed: int | None = None,
    ) -> None:
        if max_concurrency < 1 or max_retries < 0:
            raise InstillError("max_concurrency must be at least 1 and max_retries at least 0")
        self.base_url, self.model = base_url.rstrip("/"), model
        self.max_retries, self.backoff_s, self.max_backoff_s = max_retries, backoff_s, max_backoff_s
        self.rng = random.Random(seed)  # jitter only
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(headers=headers, timeout=timeout_s,
                                   limits=httpx.Limits(max_connections=max_concurrency))
        self.pool = ThreadPoolExecutor(max_concurrency, thread_name_prefix="instill-openai")

    # --- the LLM protocol -----------------------------------------------------------------------------------------

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        def one(prompt: str) -> list[Completion]:
            choices = self._choices("/completions", {"prompt": prompt, **self._body(params)}, params.n)
            return [Completion(c.get("text") or "", _finish(c.get("finish_reason"))) for c in choices]

        return list(self.pool.map(one, prompts))

    def chat(self, conversations: Sequence[Sequence[ChatTurn]], params: SamplingParams) -> list[list[Completion]]:
        def one(messages: Sequence[ChatTurn]) -> list[Completion]:
            body = {"messages": [dict(m) for m in messages], **self._body(params)}
            choices = self._choices("/chat/completions", body, params.n)
            return [Completion((c.get("message") or {}).get("content") or "", _finish(c.get("finish_reason")))
                    for c in choices]

        return list(self.pool.map(one, conversations))

    def close(self) -> None:
        self.pool.shutdown(wait=False)
        self.client.close()

    # --- beyond the protocol: what the terminal chat needs -----------------------------------------------------

    def models(self) -> list[str]:
        """The model names the server offers."""
        return [m["id"] for m in self._request("GET", "/models").json().get("data", [])]

    def stream_chat(self, messages: Sequence[ChatTurn], params: SamplingParams) -> Iterator[str]:
        """The reply to one conversation, piece by piece as the server sends it (server-sent events)."""
        body = {"messages": [dict(m) for m in messages], **self._body(params), "n": 1, "stream": True}
        with self._request("POST", "/chat/completions", body, stream=True) as r:
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    raise InstillError(f"{self.base_url}: the stream sent non-JSON data: {data[:100]!r}") from None
                if "error" in event:
                    raise InstillError(f"{self.base_url}: the stream failed: {event['error'].get('message')}")
                for choice in event.get("choices", []):
                    if piece := (choice.get("delta") or {}).get("content"):
                        yield piece

    # --- HTTP with retries ----------------------------------------------------------------------------------------

    def _body(self, p: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "max_tokens": p.max_tokens, "temperature": p.temperature,
                                "top_p": p.top_p, "n": p.n}
        if p.stop:
            body["stop"] = list(p.stop)
        if p.presence_penalty:
            body["presence_penalty"] = p.presence_penalty
        if p.frequency_penalty:
            body["frequency_penalty"] = p.frequency_penalty
        if p.seed is not None:
            body["seed"] = p.seed
        return body

    def _choices(self, path: str, body: dict[str, Any], n: int) -> list[dict[str, Any]]:
        r = self._request("POST", path, body)
        try:
            choices = sorted(r.json()["choices"], key=lambda c: c.get("index", 0))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InstillError(f"{self.base_url}{path}: not an OpenAI completion: {r.text[:200]!r}") from None
        if len(choices) != n:
            raise InstillError(f"{self.base_url}{path}: asked for n={n} choices, the server returned {len(choices)}")
        return choices

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, stream: bool = False) -> Any:
        """Send until a success (returned; with stream=True a context manager over the open response), a final
        4xx (InstillError with the server's message) or the last retry."""
        url = self.base_url + path
        reason = ""
        for attempt in range(self.max_retries + 1):
            wait: float | None = None
            try:
                request = self.client.build_request(method, url, json=body)
                r = self.client.send(request, stream=stream)
            except httpx.TransportError as e:
                reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            else:
                if r.status_code < 400:
                    return _Streamed(r) if stream else r
                if stream:
                    r.read()
                    r.close()
                reason = f"HTTP {r.status_code}: {_server_message(r)}"
                if not _retryable(r.status_code):
                    wrong_path = r.status_code == 404 and "model" not in reason
                    hint = " (does the base URL end with /v1?)" if wrong_path else ""
                    raise InstillError(f"{method} {url} was refused: {reason}{hint}")
                wait = _retry_after(r)
            if attempt < self.max_retries:
                delay = backoff_delay(attempt, self.backoff_s, self.max_backoff_s, self.rng)
                time.sleep(min(self.max_backoff_s, wait) if wait is not None else delay)
        raise InstillError(f"{method} {url} failed after {self.max_retries + 1} attempts; last: {reason}")


def _retry_after(r: httpx.Response) -> float | None:
    try:
        return max(0.0, float(r.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


class _Streamed:
    """An open streaming response as a context manager that closes it."""

    def __init__(self, r: httpx.Response) -> None:
        self.r = r

    def __enter__(self) -> httpx.Response:
        return self.r

    def __exit__(self, *exc: Any) -> None:
        self.r.close()
