"""`ChatModel`: a loaded model with the chat format it was trained with; it encodes a chat exactly as training does
and knows which tokens end a turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch

from instill.chat_format import ChatFormat, chat_format_for
from instill.model_source import saved_end_of_turn
from instill.modeling import load_pretrained
from instill.precision import Precision, resolve_precision
from instill.tokenize import encode_prompt, encode_raw


@dataclass
class ChatModel:
    """A model with the chat format it was trained with."""

    model: Any
    tokenizer: Any
    fmt: ChatFormat
    is_seq2seq: bool

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        """The prompt ids of a chat, ending with the assistant header: exactly the ids training puts before a reply."""
        return encode_prompt(self.tokenizer, self.fmt, [dict(m) for m in messages], self.is_seq2seq)

    def raw_ids(self, text: str) -> list[int]:
        """Plain-text prompt ids, with the tokenizer's own special tokens, as a base model is used (see `encode_raw`)."""
        return encode_raw(self.tokenizer, text, self.is_seq2seq)

    def stop_ids(self) -> list[int]:
        """Tokens that end a reply: eos and the end-of-turn token (when the end of turn is one token)."""
        ids = {self.tokenizer.eos_token_id, self.fmt.end_of_turn_id(self.tokenizer)}
        return sorted(i for i in ids if i is not None)

    def stop_texts(self) -> tuple[str, ...]:
        """Texts that end a reply: the end-of-turn text when it is several tokens (one token is a stop id)."""
        return () if self.fmt.end_of_turn_id(self.tokenizer) is not None else (self.fmt.end_of_turn,)


def load_chat_model(name: str, chat_template: str = "auto", end_of_turn: str | None = None,
                    precision: Precision = "auto") -> ChatModel:
    """Load a model (folder, .gguf, named model or hub id); a folder instill saved says which end-of-turn text it
    was trained with. Inference runs on bf16 weights where `precision` resolves to bf16 (log-probabilities and
    sampling stay fp32): half the memory traffic, and the CPU's bf16 units where it has them."""
    chosen = resolve_precision(precision, "cuda" if torch.cuda.is_available() else "cpu")
    loaded = load_pretrained(name, dtype=torch.bfloat16 if chosen == "bf16" else torch.float32)
    if end_of_turn is None and loaded.folder is not None:
        end_of_turn = saved_end_of_turn(loaded.folder)
    loaded.model.eval()
    fmt = chat_format_for(loaded.tokenizer, chat_template, end_of_turn)
    return ChatModel(loaded.model, loaded.tokenizer, fmt, loaded.is_seq2seq)
