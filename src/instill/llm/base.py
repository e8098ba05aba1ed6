"""The one protocol every language-model backend speaks: complete prompts and answer chats.

Self-Instruct, evaluation and the terminal chat only know this protocol; `openai` (any OpenAI-compatible HTTP
endpoint) and `local` (a transformers model in this process) implement it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, Sequence

from instill.errors import InstillError

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample, with the OpenAI API's names and meanings.

    Args:
        max_tokens: longest completion, in tokens.
        temperature: 0 means greedy decoding.
        top_p: nucleus sampling mass (with temperature > 0).
        n: completions per prompt.
        stop: texts that end a completion; the stop text itself is not returned.
        presence_penalty / frequency_penalty: subtracted from the logit of a token once it has appeared / per time
            it has appeared in the completion (OpenAI's definition, -2..2).
        seed: makes sampling repeatable (for the local backend: per call; for HTTP: as far as the server allows).

    >>> SamplingParams(max_tokens=0)
    Traceback (most recent call last):
    instill.errors.InstillError: max_tokens must be at least 1 (got 0)
    """

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.stop, str) or not isinstance(self.stop, tuple):  # a list or one string: keep it hashable
            object.__setattr__(self, "stop", (self.stop,) if isinstance(self.stop, str) else tuple(self.stop))
        checks = [
            (self.max_tokens >= 1, f"max_tokens must be at least 1 (got {self.max_tokens})"),
            (self.temperature >= 0, f"temperature must be >= 0, 0 meaning greedy (got {self.temperature})"),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1] (got {self.top_p})"),
            (self.n >= 1, f"n must be at least 1 (got {self.n})"),
            (all(self.stop), "stop texts must not be empty"),
            (-2 <= self.presence_penalty <= 2, f"presence_penalty must be in [-2, 2] (got {self.presence_penalty})"),
            (-2 <= self.frequency_penalty <= 2, f"frequency_penalty must be in [-2, 2] (got {self.frequency_penalty})"),
        ]
        for ok, message in checks:
            if not ok:
                raise InstillError(message)


@dataclass(frozen=True)
class Completion:
    """One completion. `finish_reason` is "length" when `max_tokens` cut it: Self-Instruct drops those whole."""

    text: str
    finish_reason: FinishReason


Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


class LLM(Protocol):
    """A language model that completes prompts and chats. Both return `params.n` completions per input, in order."""

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        """Continue each prompt as plain text (no chat template)."""
        ...

    def chat(self, conversations: Sequence[Sequence[Message]], params: SamplingParams) -> list[list[Completion]]:
        """Answer each conversation as the assistant's next turn (the model's chat template applies)."""
        ...

    def close(self) -> None:
        """Release connections or memory."""
        ...
