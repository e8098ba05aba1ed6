"""Ask a model every item: generate an answer, or rank the options by their log-likelihood.

Prompts are encoded as the model was trained (`prompt_style="chat"`: the chat template, exactly the ids training
used), or as plain text for a base model used as is (`"raw"`: the prompt, a newline, and generation stops at a
blank line). Tasks with options are ranked by default: each option's summed log-likelihood after the prompt, the
prompt encoded once per item (see `rank.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Sequence

from tqdm import tqdm

from instill.config import DataConfig
from instill.evaluate.items import EvalRow
from instill.formats import COT_FORMATS, parse_cot_answer
from instill.inference.chat_model import ChatModel
from instill.inference.sampling import SamplingParams
from instill.llm.local import LocalBackend
from instill.tokenize import encode_prompt, piece_ids, truncate_prompt

KEEP_PROMPT_HEAD = DataConfig.model_fields["keep_prompt_head"].default  # the head training keeps, kept here too

PromptStyle = Literal["chat", "raw"]
RAW_STOP = ("\n\n",)


@dataclass
class Answer:
    """What the model said for one item: `text` is the raw output (the chosen option when ranked), `parsed` the part
    that is scored (the answer after "the answer is" for chain of thought)."""

    text: str
    parsed: str | None
    method: Literal["generate", "rank"]
    option_loglik: list[float] | None = None
    finish_reason: str | None = None
    prompt_cut: bool = False  # the prompt did not fit the model's positions with the answer and was cut


def raw_prompt(item: EvalRow) -> str:
    return "\n\n".join(m["content"] for m in item.messages) + "\n"


_MARKER = re.compile(r"^\s*(?:\(?[A-Za-z0-9]{1,2}[).:]|-|\*)\s+")


def match_option(text: str | None, options: Sequence[str]) -> str | None:
    """The option a free-text answer names: equal after normalization, or after dropping a leading option marker
    such as "(B)", "2." or "-"; None when it names none (or several).

    >>> match_option("(B) no.", ["yes", "no"]), match_option("No", ["yes", "no"]), match_option("maybe", ["yes", "no"])
    ('no', 'no', None)
    """
    from instill.evaluate.metrics import normalize_answer

    if text is None:
        return None
    by_norm: dict[str, list[str]] = {}
    for o in options:
        by_norm.setdefault(normalize_answer(o), []).append(o)
    for candidate in (text, _MARKER.sub("", text, count=1)):
        hits = by_norm.get(normalize_answer(candidate), [])
        if len(hits) == 1:
            return hits[0]
    return None


def uses_ranking(item: EvalRow, options_mode: str) -> bool:
    return bool(item.options) and options_mode == "rank" and item.format not in COT_FORMATS


def generate_answers(cm: ChatModel, items: Sequence[EvalRow], style: PromptStyle, max_new_tokens: int,
                     cot_max_new_tokens: int, batch_size: int, progress: bool = True) -> list[Answer]:
    """Greedy answers, batched with left padding, stopping at the end of the turn (chat) or a blank line (raw)."""
    from instill.evaluate.rank import model_max_positions

    backend = LocalBackend(cm, max_batch_size=batch_size)
    limit = None if cm.is_seq2seq else model_max_positions(cm.model)  # an encoder's input has no shared budget
    out: list[Answer | None] = [None] * len(items)
    groups: dict[bool, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(it.format in COT_FORMATS, []).append(i)
    bar = tqdm(total=len(items), desc="generate", unit="item", disable=not progress, dynamic_ncols=True)
    for cot, idx in sorted(groups.items()):
        params = SamplingParams(max_tokens=cot_max_new_tokens if cot else max_new_tokens, temperature=0.0,
                                stop=RAW_STOP if style == "raw" else ())
        idx.sort(key=lambda i: len(items[i].prompt))  # similar lengths together: little padding
        for start in range(0, len(idx), batch_size):
            chunk = idx[start : start + batch_size]
            ids = [prompt_ids(cm, items[i], style) for i in chunk]
            fitted = [fit_prompt(p, limit, params.max_tokens) for p in ids]
            done = backend.generate_ids(fitted, params)
            for i, (c,), p, f in zip(chunk, done, ids, fitted):
                text = c.text.strip()
                parsed = parse_cot_answer(text) if cot else text
                if items[i].options and parsed is not None:
                    parsed = match_option(parsed, items[i].options) or parsed
                out[i] = Answer(text, parsed, "generate", finish_reason=c.finish_reason, prompt_cut=len(f) < len(p))
            bar.update(len(chunk))
    bar.close()
    return out  # type: ignore[return-value]


def prompt_ids(cm: ChatModel, item: EvalRow, style: PromptStyle) -> list[int]:
    """The ids a model is asked with: the chat template as in training, or the raw text with its BOS."""
    return cm.raw_ids(raw_prompt(item)) if style == "raw" else cm.chat_ids(item.messages)


def fit_prompt(ids: list[int], max_positions: int | None, max_new_tokens: int) -> list[int]:
    """A prompt cut, as training cuts one, so that it and the longest answer fit the model's positions: its first
    `data.keep_prompt_head` tokens stay, tokens after them are dropped from the left.

    >>> fit_prompt(list(range(200)), 128, 28)[:3], len(fit_prompt(list(range(200)), 128, 28))
    ([0, 1, 2], 100)
    """
    if max_positions is None or len(ids) + max_new_tokens <= max_positions:
        return ids
    return truncate_prompt(ids, max(1, max_positions - max_new_tokens), KEEP_PROMPT_HEAD)


def option_requests(cm: ChatModel, item: EvalRow, style: PromptStyle) -> tuple[list[int], list[list[int]]]:
    """(prompt ids, ids of each option after it).

    Chat style: the prompt ids are the ones training and generation use, and an option's ids are the ones training
    puts after them (`piece_ids`): enc(prompt + option)[len(enc(prompt)):] where enc(prompt) is a prefix of
    enc(prompt + option), else enc(option) alone, since a BPE merge across the end of the generation prompt would
    otherwise score tokens the model never saw after this prompt (and lose the option's first characters). Raw
    style: lm-evaluation-harness's split (`rank.split_context`), for a base model used as the harness uses it.
    """
    from instill.evaluate.rank import split_context

    tok = cm.tokenizer
    assert item.options
    if style == "raw":
        pairs = [split_context(tok, raw_prompt(item), o, is_seq2seq=cm.is_seq2seq) for o in item.options]
        return pairs[0][0], [p[1] for p in pairs]
    if cm.is_seq2seq:
        ctx = encode_prompt(tok, cm.fmt, item.messages, True)
        return ctx, [tok(o, add_special_tokens=False)["input_ids"] for o in item.options]
    ctx = encode_prompt(tok, cm.fmt, item.messages, False)
    before = cm.fmt.render(tok, item.messages, add_generation_prompt=True)
    return ctx, [piece_ids(tok, [(before, False), (o, True)])[1] for o in item.options]


def rank_answers(cm: ChatModel, items: Sequence[EvalRow], style: PromptStyle, normalize: str,
                 items_per_step: int, progress: bool = True) -> list[Answer]:
    """The option with the highest log-likelihood (optionally per character or token); ties go to the first."""
    from instill.evaluate.rank import choose, score_options

    requests = [option_requests(cm, it, style) for it in items]
    scores = score_options(cm.model, requests, items_per_step=items_per_step, is_seq2seq=cm.is_seq2seq,
                           progress=progress, option_chars=[[len(o) for o in it.options or []] for it in items])
    out = []
    for it, s in zip(items, scores):
        pick = it.options[choose(s, normalize)]  # type: ignore[index]
        out.append(Answer(pick, pick, "rank", option_loglik=[round(x, 6) for x in s.loglik]))
    return out


def answer_all(cm: ChatModel, items: Sequence[EvalRow], *, style: PromptStyle = "chat", options_mode: str = "rank",
               normalize: str = "none", max_new_tokens: int = 64, cot_max_new_tokens: int = 192,
               batch_size: int = 16, progress: bool = True) -> list[Answer]:
    """Every item's answer, in order: ranked items in one pass, generated ones in another."""
    ranked = [i for i, it in enumerate(items) if uses_ranking(it, options_mode)]
    ranked_set = set(ranked)
    generated = [i for i in range(len(items)) if i not in ranked_set]
    out: list[Any] = [None] * len(items)
    if ranked:
        for i, a in zip(ranked, rank_answers(cm, [items[i] for i in ranked], style, normalize,
                                              max(1, batch_size // 2), progress)):
            out[i] = a
    if generated:
        for i, a in zip(generated, generate_answers(cm, [items[i] for i in generated], style, max_new_tokens,
                                                     cot_max_new_tokens, batch_size, progress)):
            out[i] = a
    return out
