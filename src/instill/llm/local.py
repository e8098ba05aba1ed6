"""The `local` backend: a transformers model in this process, prompts generated in batches by the engine.

Chat prompts are encoded exactly as the model was trained (`ChatModel.chat_ids`); plain prompts as
`instill generate --raw` encodes them (`ChatModel.raw_ids`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from instill.errors import InstillError
from instill.inference.chat_model import ChatModel
from instill.inference.engine import Row, generate_rows
from instill.llm.base import Completion, ChatTurn, SamplingParams
from instill.llm.load import LocalBackendConfig

_DEFAULT_BATCH: int = LocalBackendConfig.model_fields["max_batch_size"].default  # the schema's (llm/load.py)


class LocalBackend:
    """Runs prompts through an in-process model, `max_batch_size` sequences at a time (shortest prompts together,
    so little padding)."""

    def __init__(self, cm: ChatModel, max_batch_size: int = _DEFAULT_BATCH) -> None:
        if max_batch_size < 1:
            raise InstillError(f"max_batch_size must be at least 1 (got {max_batch_size})")
        self.cm, self.max_batch_size = cm, max_batch_size

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        return self.generate_ids([self.cm.raw_ids(p) for p in prompts], params)

    def chat(self, conversations: Sequence[Sequence[ChatTurn]], params: SamplingParams) -> list[list[Completion]]:
        return self.generate_ids([self.cm.chat_ids(c) for c in conversations], params)

    def close(self) -> None:
        pass

    def generate_ids(self, prompts: list[list[int]], params: SamplingParams) -> list[list[Completion]]:
        """Completions of prompts given as token ids (`params.n` each, in order)."""
        prompts = [p for p in prompts for _ in range(params.n)]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        done: list[Completion | None] = [None] * len(prompts)
        for start in range(0, len(order), self.max_batch_size):
            chunk = order[start : start + self.max_batch_size]
            for i, g in zip(chunk, generate_rows(self.cm, [Row(prompts[i], params) for i in chunk])):
                done[i] = Completion(g.text, g.finish_reason)
            params = replace(params, seed=None)  # seeded once, before the first batch: the call is repeatable
        return [done[k * params.n : (k + 1) * params.n] for k in range(len(prompts) // params.n)]  # type: ignore[misc]
