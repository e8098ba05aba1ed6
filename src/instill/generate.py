"""Ask a trained model: encode a chat exactly as in training, generate, stop at the end of the turn."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from instill.chat_format import ChatFormat, chat_format_for
from instill.model_source import saved_end_of_turn
from instill.modeling import load_pretrained
from instill.precision import Precision, resolve_precision
from instill.tokenize import encode_prompt, encode_raw


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None


@dataclass
class ChatModel:
    """A model with the chat format it was trained with."""

    model: Any
    tokenizer: Any
    fmt: ChatFormat
    is_seq2seq: bool

    def stop_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id, self.fmt.end_of_turn_id(self.tokenizer)}
        return sorted(i for i in ids if i is not None)


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


def _generate_kwargs(cm: ChatModel, params: GenerationParams) -> dict[str, Any]:
    kw: dict[str, Any] = {"max_new_tokens": params.max_new_tokens, "eos_token_id": cm.stop_ids(),
                          "pad_token_id": cm.tokenizer.pad_token_id}
    if cm.fmt.end_of_turn_id(cm.tokenizer) is None:  # several tokens: stop on the text itself
        kw.update(stop_strings=[cm.fmt.end_of_turn], tokenizer=cm.tokenizer)
    if params.temperature > 0:
        kw.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
    else:
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kw


def _prompt_ids(cm: ChatModel, messages: list[dict[str, str]] | None, raw: str | None) -> torch.Tensor:
    if raw is not None:  # plain text continuation, as a base model is used
        ids = encode_raw(cm.tokenizer, raw, cm.is_seq2seq)
    else:
        ids = encode_prompt(cm.tokenizer, cm.fmt, messages, cm.is_seq2seq)
    return torch.tensor([ids], device=cm.model.device)


def stream(
    cm: ChatModel, messages: list[dict[str, str]] | None = None, params: GenerationParams = GenerationParams(),
    raw: str | None = None,
) -> Iterator[str]:
    """Yield the reply text piece by piece as it is generated (end-of-turn text left out)."""
    from transformers import TextIteratorStreamer

    if params.seed is not None:
        torch.manual_seed(params.seed)
    ids = _prompt_ids(cm, messages, raw)
    streamer = TextIteratorStreamer(cm.tokenizer, skip_prompt=not cm.is_seq2seq, skip_special_tokens=True)
    kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "streamer": streamer,
              **_generate_kwargs(cm, params)}
    worker = threading.Thread(target=cm.model.generate, kwargs=kwargs, daemon=True)
    worker.start()
    yield from _until(streamer, cm.fmt.end_of_turn)
    worker.join()


def _until(pieces: Iterator[str], marker: str) -> Iterator[str]:
    """Pass text through up to the first `marker`, even when the marker arrives split over several pieces.

    >>> list(_until(iter(["Par", "is<|im", "_end|>more"]), "<|im_end|>"))
    ['Paris']
    >>> list(_until(iter(["a long enough reply", " and more"]), "###"))
    ['a long enough rep', 'ly and mo', 're']
    """
    held = ""
    for piece in pieces:
        held += piece
        if marker in held:
            if head := held.split(marker, 1)[0]:
                yield head
            return
        keep = len(marker) - 1  # a marker's beginning may end this piece
        if len(held) > keep:
            yield held[: len(held) - keep]
            held = held[len(held) - keep :]
    if held:
        yield held


def generate(
    cm: ChatModel, messages: list[dict[str, str]] | None = None, params: GenerationParams = GenerationParams(),
    raw: str | None = None,
) -> str:
    """The whole reply to a chat (or the continuation of `raw` text)."""
    ids = _prompt_ids(cm, messages, raw)
    with torch.no_grad():
        out = cm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **_generate_kwargs(cm, params))
    new = out[0] if cm.is_seq2seq else out[0, ids.shape[1] :]
    return cm.tokenizer.decode(new, skip_special_tokens=True).split(cm.fmt.end_of_turn, 1)[0].strip()
