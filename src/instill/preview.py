"""Show training sequences as text with the loss-bearing spans marked, to check masking by eye."""

from __future__ import annotations

from typing import Any

from instill.config import Recipe
from instill.tokenize import IGNORE_INDEX, Encoded
from instill.train.data import encode_all, load_model_and_format, prepare_conversations


def mark_loss(tokenizer: Any, enc: Encoded) -> str:
    """Decode a decoder-only sequence, wrapping each run of loss-bearing tokens in [[ ]]."""
    out, run, in_loss = [], [], False
    for tok, lab in zip(enc.input_ids, enc.labels):
        carries = lab != IGNORE_INDEX
        if carries != in_loss and run:
            text = tokenizer.decode(run)
            out.append(f"[[{text}]]" if in_loss else text)
            run = []
        in_loss = carries
        run.append(tok)
    if run:
        text = tokenizer.decode(run)
        out.append(f"[[{text}]]" if in_loss else text)
    return "".join(out)


def preview(recipe: Recipe, n: int) -> str:
    convs, _ = prepare_conversations(recipe)  # the tiny tokenizer is trained on the same split as in training
    loaded, fmt = load_model_and_format(recipe, convs)
    encoded, stats = encode_all(convs[:n], loaded.tokenizer, fmt, recipe.data, loaded.is_seq2seq)
    blocks = []
    for i, enc in enumerate(encoded):
        head = f"--- sequence {i}: {len(enc.input_ids)} tokens, {enc.n_loss_tokens} carry loss"
        if loaded.is_seq2seq:
            body = f"encoder: {loaded.tokenizer.decode(enc.input_ids)}\ntarget: [[{loaded.tokenizer.decode(enc.labels)}]]"
        else:
            body = mark_loss(loaded.tokenizer, enc)
        blocks.append(f"{head}\n{body}")
    if stats.dropped_too_long:
        blocks.append(f"({stats.dropped_too_long} dropped: response longer than data.max_length)")
    return "\n".join(blocks)
