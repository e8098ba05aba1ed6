"""Training data: sources -> conversations -> encoded sequences (batches: instill.train.batching)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from instill.chat_format import ChatFormat, chat_format_for
from instill.config import DataConfig, Recipe, SourceConfig
from instill.errors import InstillError
from instill.mixture import Mixture, build_mixture, check_no_leak
from instill.model_source import saved_end_of_turn
from instill.modeling import Loaded, load_for_training
from instill.records import Conversation, to_conversations
from instill.sources import load_source
from instill.tokenize import Encoded, encode_causal, encode_seq2seq, longest_token_chars


@dataclass
class EncodeStats:
    conversations: int = 0
    sequences: int = 0
    dropped_too_long: int = 0
    tokens: int = 0
    loss_tokens: int = 0
    truncated: int = 0


def load_conversations(sources: list[SourceConfig], cfg: DataConfig) -> list[Conversation]:
    records = []
    for src in sources:
        records += load_source(
            format=src.format, path=src.path, hub=src.hub, subset=src.subset, split=src.split,
            limit=src.limit, train_on=cfg.train_on,
        )
    return list(to_conversations(records, cfg.system_prompt))


def load_model_and_format(recipe: Recipe, train_convs: list[Conversation]) -> tuple[Loaded, ChatFormat]:
    """The recipe's model and tokenizer (the tiny tokenizer is trained on `train_convs`) and its chat format."""
    texts = (m.content for c in train_convs for m in c.messages)
    loaded = load_for_training(recipe.model, texts, recipe.seed)
    end_of_turn = recipe.chat.end_of_turn
    if end_of_turn is None and loaded.folder is not None:  # a folder instill saved or converted says its own
        end_of_turn = saved_end_of_turn(loaded.folder)
    return loaded, chat_format_for(loaded.tokenizer, recipe.chat.template, end_of_turn)


def prepare_conversations(recipe: Recipe, mixture: Mixture | None = None) -> tuple[list[Conversation], list[Conversation]]:
    """The training and validation conversations of a recipe: its sources plus its mixture (built here unless
    given). Validation: the validation sources, else a seeded split when validation_fraction is set, else the
    mixture's validation set. Training data that touches the mixture's evaluation set is refused."""
    convs = load_conversations(recipe.data.train, recipe.data) if recipe.data.train else []
    mix_val: list[Conversation] = []
    if recipe.mixture is not None:
        mixture = mixture or build_mixture(recipe.mixture, recipe.seed, recipe.data.system_prompt)
        # the mixture checked its own rows when it was built; the recipe's other sources are checked here
        check_no_leak(convs, mixture.eval, mixture.held_out_tasks)
        convs += mixture.train
        mix_val = mixture.validation
    if recipe.data.validation:
        return convs, load_conversations(recipe.data.validation, recipe.data)
    if recipe.data.validation_fraction == 0 and mix_val:
        return convs, mix_val
    train, val = split_validation(convs, recipe.data.validation_fraction, recipe.seed)
    if not train:
        raise InstillError(f"data.validation_fraction={recipe.data.validation_fraction} leaves no training data "
                           f"out of {len(convs)} conversations")
    return train, val


def split_validation(convs: list[Conversation], fraction: float, seed: int) -> tuple[list, list]:
    """Hold out a seeded random `fraction` of conversations (at least one when fraction > 0)."""
    if fraction <= 0:
        return convs, []
    order = list(range(len(convs)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(convs) * fraction))
    held = set(order[:n_val])
    return [c for i, c in enumerate(convs) if i not in held], [convs[i] for i in sorted(held)]


def encode_all(
    convs: list[Conversation], tokenizer: Any, fmt: ChatFormat, cfg: DataConfig, is_seq2seq: bool
) -> tuple[list[Encoded], EncodeStats]:
    """Encode every conversation; sequences whose response cannot fit are dropped and counted (one far too long
    by its characters is dropped before it is tokenized)."""
    stats = EncodeStats(conversations=len(convs))
    out: list[Encoded] = []
    chars_per_token = longest_token_chars(tokenizer) if convs else None
    for index, conv in enumerate(convs):
        try:
            encoded = _encode_one(conv, tokenizer, fmt, cfg, is_seq2seq, chars_per_token)
        except InstillError as e:  # a template that refuses a record: say which record
            raise InstillError(f"{conv.source or f'conversation {index}'}: {e}") from None
        stats.dropped_too_long += sum(m.loss for m in conv.messages) - len(encoded) if is_seq2seq else not encoded
        out += encoded
    stats.sequences = len(out)
    stats.tokens = sum(len(e.input_ids) + (len(e.labels) if is_seq2seq else 0) for e in out)
    stats.loss_tokens = sum(e.n_loss_tokens for e in out)
    stats.truncated = sum(e.truncated for e in out)
    return out, stats


def _encode_one(conv: Conversation, tokenizer: Any, fmt: ChatFormat, cfg: DataConfig, is_seq2seq: bool,
                chars_per_token: int | None) -> list[Encoded]:
    if is_seq2seq:
        return encode_seq2seq(tokenizer, fmt, conv, cfg.max_length, cfg.max_target_length, cfg.keep_prompt_head,
                              chars_per_token)
    one = encode_causal(tokenizer, fmt, conv, cfg.max_length, cfg.keep_prompt_head, chars_per_token)
    return [one] if one is not None else []
