"""Rank classification: score each option of an item by its log-likelihood given the prompt, pick the best.

lm-evaluation-harness is the anchor (README, "Rank classification"): the same sums, `acc_norm` by characters, ties
to the first option, and for raw text the same split of context and option tokens (`split_context`); a chat prompt
is split where training splits a response from its prompt instead (`predict.option_requests`). It runs every (context + option) row on its own;
here a causal LM runs each context once, keeps its KV cache, repeats it for the item's options and scores all
options in one forward. `use_cache=False` is the one-row-per-option path, kept as the reference that tests and
bench/rank_throughput.py compare against.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import torch
from tqdm.auto import tqdm

from instill.errors import InstillError
from instill.tokenize import encode_raw

log = logging.getLogger("instill.evaluate")

Item = tuple[list[int], list[list[int]]]  # (context ids, [option ids, ...])
Normalize = Literal["none", "chars", "tokens"]


@dataclass
class OptionScores:
    """One item's scores, one entry per option in the order given."""

    loglik: list[float]  # summed log-probability of the option's tokens given the context
    n_tokens: list[int]
    n_chars: list[int]  # len(option text); 0 when scored from ids alone (see `score_options(option_chars=...)`)
    greedy: list[bool]  # every option token was the model's argmax


def split_context(tokenizer: Any, context: str, option: str, *,
                  is_seq2seq: bool = False) -> tuple[list[int], list[int]]:
    """Token ids of the context and of the option, split the way lm-evaluation-harness splits them.

    Trailing white space of the context moves onto the option (`"Answer: " + "Paris"` is scored as
    `"Answer:" + " Paris"`). The option's ids are `enc(context + option)[len(enc(context)):]`, never `enc(option)`
    alone (a SentencePiece tokenizer would prepend `▁`); for an encoder-decoder (`is_seq2seq`) the option goes to
    the decoder on its own, so it is `enc(option)`, as in the harness. The context gets the tokenizer's special
    tokens (BOS where it adds one), the option never; an empty context becomes [BOS] (else [EOS]).

    Raises:
        InstillError: the option has no tokens of its own (it is empty, or a token spans the join).
    """
    n_space = len(context) - len(context.rstrip())
    if n_space:
        context, option = context[:-n_space], context[-n_space:] + option
    if context and is_seq2seq:
        ctx_ids, option_ids = tokenizer(context)["input_ids"], _plain(tokenizer, option)
    elif context:
        ctx_ids = encode_raw(tokenizer, context)
        option_ids = _plain(tokenizer, context + option)[len(_plain(tokenizer, context)):]
    else:
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if start is None:
            raise InstillError("an empty context needs a BOS or EOS token to start from; the tokenizer has neither")
        ctx_ids, option_ids = [start], _plain(tokenizer, option)
    if not option_ids:
        raise InstillError(
            f"option {option!r} has no tokens of its own after context ...{context[-30:]!r}: it is empty or a token "
            "spans the join; end the context at a word boundary or start the option with a delimiter"
        )
    return list(ctx_ids), list(option_ids)


def _plain(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def choose(scores: OptionScores, normalize: Normalize = "none") -> int:
    """Index of the best option: the highest log-likelihood, optionally per character or per token.

    "chars" is lm-evaluation-harness's `acc_norm`. Ties go to the first option (as `np.argmax`).

    >>> s = OptionScores(loglik=[-4.0, -3.0, -3.0], n_tokens=[2, 1, 1], n_chars=[8, 2, 2], greedy=[False] * 3)
    >>> choose(s), choose(s, "chars"), choose(s, "tokens")
    (1, 0, 0)
    """
    if normalize == "none":
        values = scores.loglik
    elif normalize == "tokens":
        values = [ll / n for ll, n in zip(scores.loglik, scores.n_tokens)]
    elif normalize == "chars":
        if any(n <= 0 for n in scores.n_chars):
            raise InstillError("normalize='chars' needs the options' lengths in characters: score them with "
                               "rank_classify, or pass option_chars to score_options")
        values = [ll / n for ll, n in zip(scores.loglik, scores.n_chars)]
    else:
        raise InstillError(f"normalize={normalize!r}: expected 'none', 'chars' or 'tokens'")
    return max(range(len(values)), key=values.__getitem__)  # max keeps the first of equal values


def rank_classify(model: Any, tokenizer: Any, contexts: Sequence[str], options: Sequence[Sequence[str]], *,
                  items_per_step: int = 8, use_cache: bool = True, is_seq2seq: bool | None = None,
                  progress: bool = False) -> list[OptionScores]:
    """Score every option of every item from text: `split_context`, then `score_options`.

    To match the harness's `acc_norm`, pass options without their delimiter and end the context with it
    (`"Answer: "`, `"Paris"`): the space is scored with the option but `n_chars` counts `"Paris"`.
    """
    if len(contexts) != len(options):
        raise InstillError(f"{len(contexts)} contexts but {len(options)} option lists")
    seq2seq = _is_seq2seq(model) if is_seq2seq is None else is_seq2seq
    items = []
    for i, (context, opts) in enumerate(zip(contexts, options)):
        try:
            pairs = [split_context(tokenizer, context, o, is_seq2seq=seq2seq) for o in opts]
        except InstillError as e:
            raise InstillError(f"item {i}: {e}") from None
        items.append((pairs[0][0] if pairs else [], [p[1] for p in pairs]))
    return score_options(model, items, items_per_step=items_per_step, use_cache=use_cache, is_seq2seq=seq2seq,
                         progress=progress, option_chars=[[len(o) for o in opts] for opts in options])


def score_options(model: Any, items: Sequence[Item], *, items_per_step: int = 8, use_cache: bool = True,
                  is_seq2seq: bool | None = None, progress: bool = False,
                  option_chars: Sequence[Sequence[int]] | None = None) -> list[OptionScores]:
    """Log-likelihood of each option's ids given its item's context ids.

    Args:
        items: (context ids, [option ids, ...]) per item; items may have different numbers of options.
        items_per_step: items per forward with the cache; rows (one context + option each) per forward without.
        use_cache: encode each context once and score its options from that (KV cache, or encoder output for an
            encoder-decoder); False scores every context + option row on its own, like lm-evaluation-harness.
        is_seq2seq: None reads `model.config.is_encoder_decoder`.
        option_chars: the options' lengths in characters, for `choose(..., "chars")`.

    A causal context that does not fit the model's positions together with its item's longest option is cut from
    the left (the options stay whole), with one warning per call.

    Raises:
        InstillError: an item without options, an empty context or option, an option longer than the model allows.
    """
    if items_per_step < 1:
        raise InstillError(f"items_per_step={items_per_step}: must be at least 1")
    items = _checked(items)
    seq2seq = _is_seq2seq(model) if is_seq2seq is None else is_seq2seq
    if not seq2seq:
        items = _fit_positions(items, model_max_positions(model))
    step = _seq2seq_step if seq2seq else (_causal_cached_step if use_cache else _causal_rows_step)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            ll, greedy = _run_steps(model, items, step, items_per_step, use_cache, progress)
    finally:
        model.train(was_training)
    chars = option_chars or [[0] * len(opts) for _, opts in items]
    return [OptionScores(loglik=ll[i], n_tokens=[len(o) for o in opts], n_chars=list(chars[i]), greedy=greedy[i])
            for i, (_, opts) in enumerate(items)]


def _is_seq2seq(model: Any) -> bool:
    return bool(getattr(model.config, "is_encoder_decoder", False))


def _checked(items: Sequence[Item]) -> list[Item]:
    out = []
    for i, (context, options) in enumerate(items):
        if not options:
            raise InstillError(f"item {i}: no options to score")
        if len(context) == 0:
            raise InstillError(f"item {i}: empty context; start it with BOS (split_context does)")
        for j, option in enumerate(options):
            if len(option) == 0:
                raise InstillError(f"item {i}, option {j}: no tokens to score")
        out.append((list(context), [list(o) for o in options]))
    return out


def model_max_positions(model: Any) -> int | None:
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _fit_positions(items: list[Item], max_positions: int | None) -> list[Item]:
    """Cut contexts from the left so that context + longest option minus its last token fits the positions.

    (The last option token is only predicted, never fed.) The harness cuts each row on its own; one cut per item
    keeps one shared context, so the two differ only for items that needed a cut.
    """
    if max_positions is None:
        return items
    out, cut = [], 0
    for i, (context, options) in enumerate(items):
        longest = max(len(o) for o in options)
        if longest > max_positions:
            raise InstillError(f"item {i}: an option of {longest} tokens is longer than the model's "
                               f"{max_positions} positions")
        room = max_positions - longest + 1
        if len(context) > room:
            context, cut = context[-room:], cut + 1
        out.append((context, options))
    if cut:
        log.warning("%d of %d contexts were cut from the left to fit the model's %d positions with their options",
                    cut, len(items), max_positions)
    return out


def _run_steps(model: Any, items: list[Item], step: Any, per_step: int, use_cache: bool,
               progress: bool) -> tuple[list[list[float]], list[list[bool]]]:
    """Group the work into units (an item with all its options, or one option row), longest first, and batch them."""
    if use_cache:
        units = [(i, list(range(len(opts)))) for i, (_, opts) in enumerate(items)]
    else:
        units = [(i, [j]) for i, (_, opts) in enumerate(items) for j in range(len(opts))]
    units.sort(key=lambda u: -(len(items[u[0]][0]) + max(len(items[u[0]][1][j]) for j in u[1])))  # stable
    ll = [[0.0] * len(opts) for _, opts in items]
    greedy = [[False] * len(opts) for _, opts in items]
    with tqdm(total=len(units), unit="item" if use_cache else "row", disable=not progress, desc="rank") as bar:
        for start in range(0, len(units), per_step):
            chunk = units[start : start + per_step]
            batch = [(items[i][0], [items[i][1][j] for j in js]) for i, js in chunk]
            scored = iter(zip(*step(model, batch)))
            for i, js in chunk:
                for j in js:
                    ll[i][j], greedy[i][j] = next(scored)
            bar.update(len(chunk))
    return ll, greedy


def _pad(seqs: list[list[int]], device: torch.device, left: bool, width: int | None = None) -> tuple[torch.Tensor, ...]:
    """(ids, mask), both (N, width); pads with id 0, which the mask hides."""
    width = max(len(s) for s in seqs) if width is None else width
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    for r, s in enumerate(seqs):
        cols = slice(width - len(s), width) if left else slice(0, len(s))
        ids[r, cols] = torch.tensor(s, dtype=torch.long)
        mask[r, cols] = 1
    return ids.to(device), mask.to(device)


def _option_scores(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> tuple[list, list]:
    """Summed log-probs and greedy flags of `targets` (R, N) under `logits` (R, N, V); the mask marks real tokens."""
    logp = torch.log_softmax(logits.float(), dim=-1)  # fp32 whatever the model's dtype
    real = mask.bool()
    token_ll = torch.where(real, logp.gather(-1, targets[..., None]).squeeze(-1), 0.0)
    greedy = ((logits.argmax(-1) == targets) | ~real).all(-1)
    return token_ll.sum(-1).tolist(), greedy.tolist()


def _logits_kwargs(model: Any, keep: int) -> dict[str, int]:
    """Ask for logits at the last `keep` positions only, where the model's forward supports it."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft wraps the model
    return {"logits_to_keep": keep} if "logits_to_keep" in inspect.signature(base.forward).parameters else {}


def _cache_kwarg(model: Any) -> str:
    """transformers 5.24 renamed `past_key_values` to `cache` (the old name warns, and goes in 5.40)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _causal_cached_step(model: Any, batch: list[Item]) -> tuple[list, list]:
    """Each context once (left-padded), its KV cache repeated per option, all options in one forward."""
    device = _device(model)
    options = [o for _, opts in batch for o in opts]
    row_item = torch.tensor([i for i, (_, opts) in enumerate(batch) for _ in opts], device=device)  # (R,)
    ctx_ids, ctx_mask = _pad([c for c, _ in batch], device, left=True)  # (B, Tc)
    positions = (ctx_mask.cumsum(-1) - 1).clamp(min=0)  # left padding: every context starts at position 0
    out = model(input_ids=ctx_ids, attention_mask=ctx_mask, position_ids=positions, use_cache=True,
                **_logits_kwargs(model, 1))
    logits = out.logits[:, -1:][row_item]  # (R, 1, V): the last context position predicts each first option token
    longest = max(len(o) for o in options)
    if longest > 1:
        cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
        cache.reorder_cache(row_item)  # (B, ...) -> (R, ...): index_select repeats each item's context per option
        rest, rest_mask = _pad([o[:-1] for o in options], device, left=False, width=longest - 1)  # (R, N-1)
        start = ctx_mask.sum(-1)[row_item]  # (R,) real context length = the first option position
        out = model(input_ids=rest, attention_mask=torch.cat([ctx_mask[row_item], rest_mask], dim=1),
                    position_ids=start[:, None] + torch.arange(longest - 1, device=device),
                    use_cache=True, **{_cache_kwarg(model): cache})
        logits = torch.cat([logits, out.logits], dim=1)  # (R, N, V)
    targets, mask = _pad(options, device, left=False, width=longest)
    return _option_scores(logits, targets, mask)


def _causal_rows_step(model: Any, batch: list[Item]) -> tuple[list, list]:
    """Every (context + option) row on its own, left-padded, no cache: the harness's way, as the reference."""
    device = _device(model)
    rows = [(c, o) for c, opts in batch for o in opts]
    ids, mask = _pad([c + o[:-1] for c, o in rows], device, left=True)  # the last option token is never fed
    longest = max(len(o) for _, o in rows)
    out = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                use_cache=False, **_logits_kwargs(model, longest))
    logits = out.logits[:, -longest:]  # (R, N, V): a row's option is scored at its last len(option) positions
    targets, target_mask = _pad([o for _, o in rows], device, left=True, width=longest)
    return _option_scores(logits, targets, target_mask)


def _seq2seq_step(model: Any, batch: list[Item]) -> tuple[list, list]:
    """Encode each context once, repeat the encoder output per option, decode all options in one forward.

    Without the cache, `_run_steps` hands over one option per item, so the encoder runs once per row.
    """
    from transformers.modeling_outputs import BaseModelOutput

    device = _device(model)
    start = model.config.decoder_start_token_id
    if start is None:
        raise InstillError("the encoder-decoder's config has no decoder_start_token_id")
    options = [o for _, opts in batch for o in opts]
    row_item = torch.tensor([i for i, (_, opts) in enumerate(batch) for _ in opts], device=device)  # (R,)
    enc_ids, enc_mask = _pad([c for c, _ in batch], device, left=False)  # (B, Tc)
    hidden = model.get_encoder()(input_ids=enc_ids, attention_mask=enc_mask).last_hidden_state  # (B, Tc, H)
    dec_ids, dec_mask = _pad([[start] + o[:-1] for o in options], device, left=False)  # (R, N)
    out = model(encoder_outputs=BaseModelOutput(last_hidden_state=hidden[row_item]), attention_mask=enc_mask[row_item],
                decoder_input_ids=dec_ids, decoder_attention_mask=dec_mask, use_cache=False)
    targets, mask = _pad(options, device, left=False)
    return _option_scores(out.logits, targets, mask)
