"""The one protocol every language-model backend speaks: complete prompts and answer chats.

Self-Instruct, evaluation and the terminal chat only know this protocol; `openai` (any OpenAI-compatible HTTP
endpoint) and `local` (a transformers model in this process) implement it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from instill.inference.sampling import FinishReason, SamplingParams

__all__ = ["LLM", "Completion", "FinishReason", "ChatTurn", "SamplingParams"]


@dataclass(frozen=True)
class Completion:
    """One completion. `finish_reason` is "length" when `max_tokens` cut it: Self-Instruct drops those whole."""

    text: str
    finish_reason: FinishReason


# one turn as the chat APIs send it, {"role": "system" | "user" | "assistant", "content": ...}; instill.records.Message
# is the validated turn of a training Conversation (with its loss flag)
ChatTurn = dict[str, str]


class LLM(Protocol):
    """A language model that completes prompts and chats. Both return `params.n` completions per input, in order."""

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        """Continue each prompt as plain text (no chat template)."""
        ...

    def chat(self, conversations: Sequence[Sequence[ChatTurn]], params: SamplingParams) -> list[list[Completion]]:
        """Answer each conversation as the assistant's next turn (the model's chat template applies)."""
        ...

    def close(self) -> None:
        """Release connections or memory."""
        ...
