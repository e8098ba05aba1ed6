"""The `local` backend: a transformers model in this process, prompts generated in batches.

Chat prompts are encoded by `encode_prompt`, exactly as the model was trained; plain prompts are tokenized as
`instill generate --raw` does.
"""

from __future__ import annotations

from typing import Sequence

from instill.errors import InstillError
from instill.generate import ChatModel
from instill.llm.base import Completion, Message, SamplingParams
from instill.llm.batch import Row, Sampling, generate_rows
from instill.tokenize import encode_prompt, encode_raw


def raw_prompt_ids(cm: ChatModel, text: str) -> list[int]:
    """Plain-text prompt ids, with the tokenizer's own special tokens (see `encode_raw`)."""
    ids = encode_raw(cm.tokenizer, text, cm.is_seq2seq)
    if not ids:
        raise InstillError("a prompt is empty: there is nothing to continue")
    return ids


def chat_prompt_ids(cm: ChatModel, messages: Sequence[Message]) -> list[int]:
    return encode_prompt(cm.tokenizer, cm.fmt, [dict(m) for m in messages], cm.is_seq2seq)


class LocalBackend:
    """Runs prompts through an in-process model, `max_batch_size` sequences at a time (shortest prompts together,
    so little padding)."""

    def __init__(self, cm: ChatModel, max_batch_size: int = 16) -> None:
        if max_batch_size < 1:
            raise InstillError(f"max_batch_size must be at least 1 (got {max_batch_size})")
        self.cm, self.max_batch_size = cm, max_batch_size

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        return self.generate_ids([raw_prompt_ids(self.cm, p) for p in prompts], params)

    def chat(self, conversations: Sequence[Sequence[Message]], params: SamplingParams) -> list[list[Completion]]:
        return self.generate_ids([chat_prompt_ids(self.cm, c) for c in conversations], params)

    def close(self) -> None:
        pass

    def generate_ids(self, prompts: list[list[int]], params: SamplingParams) -> list[list[Completion]]:
        """Completions of prompts given as token ids (`params.n` each, in order)."""
        rows = [Row(p, params.max_tokens, params.stop, params.presence_penalty, params.frequency_penalty)
                for p in prompts for _ in range(params.n)]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i].prompt))
        sampling = Sampling.of(params.temperature, params.top_p, params.seed)  # seeded once: the call is repeatable
        done: list[Completion | None] = [None] * len(rows)
        for start in range(0, len(order), self.max_batch_size):
            chunk = order[start : start + self.max_batch_size]
            for i, g in zip(chunk, generate_rows(self.cm, [rows[i] for i in chunk], sampling)):
                done[i] = Completion(g.text, g.finish_reason)
            sampling = Sampling.of(params.temperature, params.top_p, None)
        return [done[k * params.n : (k + 1) * params.n] for k in range(len(prompts))]  # type: ignore[misc]
