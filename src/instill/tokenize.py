"""Conversation -> token ids + labels, with loss on assistant turns only (-100 elsewhere).

The rendered chat is cut into pieces at every prompt/response boundary and each piece is tokenized apart from the
text before it (see `piece_ids`). Inference encodes a prompt with the same function, so the prompt ids a model is
trained on are exactly the ids it sees when asked: a BPE merge across the boundary can never make training and
inference disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from instill.chat_format import ChatFormat
from instill.config import DataConfig
from instill.errors import InstillError
from instill.records import Conversation

IGNORE_INDEX = -100  # label of positions that carry no loss (torch cross_entropy's ignore_index)
KEEP_PROMPT_HEAD: int = DataConfig.model_fields["keep_prompt_head"].default  # the schema's, not a second copy


@dataclass(frozen=True)
class Encoded:
    """One training sequence. Decoder-only: labels align with input_ids. Encoder-decoder: labels are the target."""

    input_ids: list[int]
    labels: list[int]
    truncated: bool = False  # the prompt was cut to fit

    @property
    def n_loss_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE_INDEX)


def split_chat(
    tokenizer: Any, fmt: ChatFormat, messages: list[dict[str, str]], loss: list[bool], add_generation_prompt: bool
) -> list[tuple[str, bool]]:
    """Cut the rendered chat into (text, carries_loss) pieces at each prompt/response boundary.

    A response piece runs from the end of the generation prompt to the end-of-turn text, inclusive; what the
    template writes after it (a newline, say) belongs to the next prompt piece.
    """
    pieces: list[tuple[str, bool]] = []
    done = ""  # the text already covered by pieces
    for k, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        prompt = fmt.render(tokenizer, messages[:k], add_generation_prompt=True)
        full = fmt.render(tokenizer, messages[: k + 1], add_generation_prompt=False)
        if not prompt.startswith(done) or not full.startswith(prompt):
            raise InstillError(
                f"the chat template renders turn {k} differently once later turns exist; instill needs a template "
                "whose rendering of a conversation starts with the rendering of its beginning"
            )
        response = full[len(prompt) :]
        cut = response.find(fmt.end_of_turn)
        if cut < 0:
            raise InstillError(
                f"the chat template does not write the end-of-turn text {fmt.end_of_turn!r} after an assistant turn"
                f"{_end_of_turn_hint(tokenizer, response, msg['content'])}"
            )
        cut += len(fmt.end_of_turn)
        pieces += [(prompt[len(done) :], False), (response[:cut], loss[k])]
        done = prompt + response[:cut]
    if add_generation_prompt:
        prompt = fmt.render(tokenizer, messages, add_generation_prompt=True)
        if not prompt.startswith(done):
            raise InstillError("the chat template renders earlier turns differently when a generation prompt follows")
        pieces.append((prompt[len(done) :], False))
    return [(text, carries) for text, carries in pieces if text]


def _end_of_turn_hint(tokenizer: Any, response: str, content: str) -> str:
    """Name the special token the template does write after a response (base models often end turns with a
    token other than eos, e.g. Qwen's <|im_end|>)."""
    after = response[response.find(content) + len(content) :] if content in response else response
    written = [t for t in getattr(tokenizer, "all_special_tokens", []) if t and t in after]
    if written:
        first = min(written, key=after.find)
        return f"; it writes {first!r}: set chat.end_of_turn='{first}'"
    return "; set chat.end_of_turn to the text it does write"


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def piece_ids(tokenizer: Any, pieces: list[tuple[str, bool]]) -> list[list[int]]:
    """Token ids of each piece, each tokenized as the continuation of the piece before it.

    A piece's ids are enc(previous + piece) minus enc(previous) when enc(previous) is their prefix, so a tokenizer
    that marks the start of a text (SentencePiece's "▁") tokenizes a piece as it would inside the whole text. When a
    merge crosses the boundary (enc(previous) is not a prefix), the piece is tokenized alone: the boundary stays
    exact and the earlier ids never change.
    """
    out: list[list[int]] = []
    for k, (text, _) in enumerate(pieces):
        if k == 0:
            out.append(_ids(tokenizer, text))
            continue
        before = pieces[k - 1][0]
        context, both = _ids(tokenizer, before), _ids(tokenizer, before + text)
        out.append(both[len(context) :] if both[: len(context)] == context else _ids(tokenizer, text))
    return out


def encode_prompt(tokenizer: Any, fmt: ChatFormat, messages: list[dict[str, str]], is_seq2seq: bool = False) -> list[int]:
    """The ids a model is asked with: the chat so far plus the generation prompt, cut as in training."""
    if is_seq2seq:
        return tokenizer(fmt.render(tokenizer, messages, add_generation_prompt=True))["input_ids"]
    pieces = split_chat(tokenizer, fmt, messages, [False] * len(messages), add_generation_prompt=True)
    return [i for ids in piece_ids(tokenizer, pieces) for i in ids]


def encode_raw(tokenizer: Any, text: str, is_seq2seq: bool = False) -> list[int]:
    """Plain text as a base model reads it: with the tokenizer's own special tokens (the BOS that Llama and Gemma
    need; GPT-2 style tokenizers add none), minus an EOS the tokenizer may append, which would end a text that is
    meant to be continued. Encoders keep their EOS (T5's inputs end with one).
    """
    ids = list(tokenizer(text)["input_ids"])
    eos = tokenizer.eos_token_id
    if not is_seq2seq and ids and eos is not None and ids[-1] == eos and not text.endswith(tokenizer.eos_token or "\0"):
        ids.pop()
    return ids


# A normalizer can pack several characters into one before tokenizing (NFKC composes conjoining Hangul jamo, 3 to
# 1); the early length check leaves that much room and more, so it only drops what cannot fit.
COMPOSE_MARGIN = 4


# Text a tokenizer without byte fallback may not know: odd symbols, and a word longer than WordPiece reads.
_UNKNOWN_PROBE = "\u2603 \U0001f600 \ua66e \u0d9e " + "a" * 300


def longest_token_chars(tokenizer: Any) -> int | None:
    """The most characters of text one token can stand for: the longest entry of the vocabulary. A byte-level
    entry has one character per byte, and a text character is at least one byte; entries such as "<0x0A>" only
    overstate it, which keeps the bound safe. None when the tokenizer turns unknown text into its unk token (one
    token could then stand for a whole unknown word, so no number of characters is sure to be too long)."""
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is not None and unk in _ids(tokenizer, _UNKNOWN_PROBE):
        return None
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return max((len(t) for t in tokens if t), default=1)


def surely_at_least(text: str, n_tokens: int, chars_per_token: int) -> bool:
    """True when `text` cannot tokenize to fewer than `n_tokens` tokens, decided without tokenizing it.

    Each token stands for at most `chars_per_token` characters, so a text with `n_tokens * chars_per_token`
    characters needs `n_tokens` tokens. Only characters a tokenizer keeps are counted (white space may be folded
    or dropped), with `COMPOSE_MARGIN` for normalizers that compose, and only as far into the text as it takes:
    a text of megabytes is decided by its first few thousand characters.

    >>> surely_at_least("word " * 1000, 100, 10), surely_at_least("word " * 1000, 100, 20)
    (True, False)
    """
    need = n_tokens * chars_per_token * COMPOSE_MARGIN
    if len(text) < need:  # most texts: too short to be sure of anything, decided at once
        return False
    kept, start = 0, 0
    while kept < need and start < len(text):
        chunk = text[start : start + 2 * need]
        kept += len(re.sub(r"\s+", "", chunk))
        start += len(chunk)
    return kept >= need


def truncate_prompt(ids: list[int], budget: int, keep_head: int) -> list[int]:
    """Cut a prompt to `budget` tokens from the left of what follows its first `keep_head` tokens.

    The head holds the system prompt and the start of the instruction; the tail holds the end of the input and
    the generation prompt the response follows.

    >>> truncate_prompt(list(range(10)), 6, 2)
    [0, 1, 6, 7, 8, 9]
    """
    if len(ids) <= budget:
        return ids
    head = min(keep_head, budget // 2)
    return ids[:head] + ids[len(ids) - (budget - head) :]


def encode_causal(
    tokenizer: Any, fmt: ChatFormat, conv: Conversation, max_length: int, keep_head: int = KEEP_PROMPT_HEAD,
    chars_per_token: int | None = None,
) -> Encoded | None:
    """Encode a conversation for a decoder-only model; None when its last response alone does not fit.

    With `chars_per_token` (`longest_token_chars`), a last response too long to fit by its characters alone is
    dropped before anything is tokenized, so a record of megabytes costs no more than a short one."""
    messages = conv.chat()
    pieces = split_chat(tokenizer, fmt, messages, [m.loss for m in conv.messages], add_generation_prompt=False)
    if chars_per_token is not None and surely_at_least(pieces[-1][0], max_length, chars_per_token):
        return None
    ids: list[int] = []
    labels: list[int] = []
    last = 0  # where the final response starts
    for (_, carries), piece in zip(pieces, piece_ids(tokenizer, pieces)):
        last = len(ids)
        ids += piece
        labels += piece if carries else [IGNORE_INDEX] * len(piece)
    if len(ids) <= max_length:
        return Encoded(ids, labels)
    if len(ids) - last >= max_length:  # the response alone leaves no room for a prompt
        return None
    keep = truncate_prompt(list(range(last)), max_length - (len(ids) - last), keep_head)
    return Encoded([ids[i] for i in keep] + ids[last:], [labels[i] for i in keep] + labels[last:], truncated=True)


def encode_seq2seq(
    tokenizer: Any, fmt: ChatFormat, conv: Conversation, max_length: int, max_target_length: int, keep_head: int = KEEP_PROMPT_HEAD,
    chars_per_token: int | None = None,
) -> list[Encoded]:
    """Encode a conversation for an encoder-decoder model: one sequence per loss-bearing assistant turn.

    The chat up to that turn (with the generation prompt) goes to the encoder; the response plus eos is the
    decoder's target, tokenized as the tokenizer tokenizes targets, ending in eos. A target longer than
    `max_target_length` is dropped (the caller counts it); with `chars_per_token`, one too long by its characters
    alone is dropped before it is tokenized.
    """
    messages = conv.chat()
    out = []
    for k, msg in enumerate(conv.messages):
        if not msg.loss:
            continue
        if chars_per_token is not None and surely_at_least(msg.content, max_target_length + 1, chars_per_token):
            continue
        source = encode_prompt(tokenizer, fmt, messages[:k], is_seq2seq=True)
        target = tokenizer(text_target=msg.content)["input_ids"]  # the model's own target specials (T5 </s>, BART <s>..</s>)
        if not target or target[-1] != tokenizer.eos_token_id:
            target = target + [tokenizer.eos_token_id]
        if len(target) > max_target_length:
            continue
        out.append(Encoded(truncate_prompt(source, max_length, keep_head), target, truncated=len(source) > max_length))
    return out
