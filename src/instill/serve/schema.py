"""The OpenAI request bodies the server accepts (pydantic), the answers it builds, and its error shape.

Unknown fields are ignored, as OpenAI-compatible servers do (clients send `user`, `metadata`, ...); known fields
the server cannot honour (logprobs, echo, tools, ...) are refused with a 400 that names them, never ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from instill.inference.engine import Generated
from instill.inference.sampling import SamplingParams, sampling_field

MAX_N = 64  # choices per request; more would hold the batch for everyone else


class APIError(Exception):
    """An error answered as OpenAI does: `{"error": {"message", "type", "param", "code"}}` with an HTTP status."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # the sampling fields' bounds and defaults are SamplingParams' own, but for two of OpenAI's defaults
    model: str
    max_tokens: int | None = sampling_field("max_tokens", None)  # None: the endpoint's default
    temperature: float = sampling_field("temperature", 1.0)  # the OpenAI default: sampling, not greedy
    top_p: float = sampling_field("top_p")
    n: int = sampling_field("n", le=MAX_N)
    stop: str | list[str] | None = None
    presence_penalty: float = sampling_field("presence_penalty")
    frequency_penalty: float = sampling_field("frequency_penalty")
    seed: int | None = sampling_field("seed")
    stream: bool = False
    stream_options: StreamOptions | None = None
    logit_bias: dict[str, float] | None = None

    def stops(self) -> tuple[str, ...]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if any(not s for s in stops):
            raise APIError(400, "stop sequences must not be empty", param="stop")
        return tuple(stops)

    def sampling(self, max_tokens: int) -> SamplingParams:
        """The request's sampling as the engine takes it, with one prompt's token limit."""
        return SamplingParams(max_tokens=max_tokens, temperature=self.temperature, top_p=self.top_p, n=self.n,
                              stop=self.stops(), presence_penalty=self.presence_penalty,
                              frequency_penalty=self.frequency_penalty, seed=self.seed)

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def unsupported(self) -> dict[str, bool]:
        """Known OpenAI fields this server cannot honour, and whether the request asks for them."""
        return {"logit_bias": bool(self.logit_bias)}

    def refuse_unsupported(self) -> None:
        for name, asked in self.unsupported().items():
            if asked:
                raise APIError(400, f"'{name}' is not supported by this server", param=name, code="unsupported")


class CompletionRequest(_Common):
    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool = False
    logprobs: int | None = None
    best_of: int | None = None
    suffix: str | None = None

    def unsupported(self) -> dict[str, bool]:
        return {**super().unsupported(), "echo": self.echo, "logprobs": self.logprobs is not None,
                "suffix": self.suffix is not None, "best_of": self.best_of not in (None, 1)}

    def prompts(self) -> list[str] | list[list[int]]:
        """The prompts, each as text or as token ids (the API allows either, one or many)."""
        p = self.prompt
        if isinstance(p, str):
            return [p]
        if p and isinstance(p[0], int):
            return [p]  # type: ignore[list-item]
        return list(p)  # type: ignore[arg-type]


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None  # null only for an assistant turn (OpenAI: one with tool calls)

    @model_validator(mode="after")
    def _content_given(self) -> "ChatMessage":
        if self.content is None and self.role != "assistant":
            raise ValueError(f"a {self.role} message needs content (a string or text parts), not null")
        return self

    def as_dict(self) -> dict[str, str]:
        """{role, content} as the chat template expects; `developer` is the newer name of `system`."""
        text = self.content if isinstance(self.content, str) else "\n".join(p.text for p in self.content or [])
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class ChatCompletionRequest(_Common):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = sampling_field("max_tokens", None)  # the newer name of max_tokens
    logprobs: bool | None = None
    tools: list[Any] | None = None
    response_format: dict[str, Any] | None = None

    @field_validator("messages")
    @classmethod
    def _something_to_answer(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if all(m.role == "assistant" for m in messages):
            raise ValueError("the messages hold no user or system message: there is nothing to answer")
        return messages

    def unsupported(self) -> dict[str, bool]:
        structured = bool(self.response_format) and self.response_format.get("type") not in (None, "text")
        return {**super().unsupported(), "logprobs": bool(self.logprobs), "tools": bool(self.tools),
                "response_format": structured}

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


def usage(results: list[Generated], n: int) -> dict[str, int]:
    """Token counts; a prompt asked for n choices counts once."""
    prompt = sum(g.prompt_tokens for g in results[::n])
    completion = sum(g.completion_tokens for g in results)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_body(rid: str, created: int, model: str, results: list[Generated], n: int) -> dict[str, Any]:
    choices = [{"index": i, "text": g.text, "logprobs": None, "finish_reason": g.finish_reason}
               for i, g in enumerate(results)]
    return {"id": rid, "object": "text_completion", "created": created, "model": model, "choices": choices,
            "usage": usage(results, n)}


def chat_body(rid: str, created: int, model: str, results: list[Generated], n: int) -> dict[str, Any]:
    choices = [{"index": i, "message": {"role": "assistant", "content": g.text}, "logprobs": None,
                "finish_reason": g.finish_reason} for i, g in enumerate(results)]
    return {"id": rid, "object": "chat.completion", "created": created, "model": model, "choices": choices,
            "usage": usage(results, n)}


def chunk(rid: str, created: int, model: str, chat: bool, index: int, text: str | None,
          finish: str | None = None, role: bool = False) -> dict[str, Any]:
    """One streamed event: a chat delta (`role` on the first) or a completion text piece."""
    if chat:
        delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
        if text:
            delta["content"] = text
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
    else:
        choice = {"index": index, "text": text or "", "logprobs": None, "finish_reason": finish}
    return {"id": rid, "object": "chat.completion.chunk" if chat else "text_completion", "created": created,
            "model": model, "choices": [choice]}
