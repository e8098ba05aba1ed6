"""Cross-entropy on response tokens only, summed, so the caller can divide by the step's total token count.

Summing first and dividing once per optimizer step makes the loss the mean over every loss token of the step,
whatever the micro-batch layout, accumulation or number of processes (see transformers#34191).
"""

from __future__ import annotations


import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from instill.tokenize import IGNORE_INDEX
from instill.train.head import chunked_cross_entropy


def target_labels(batch: dict[str, torch.Tensor], is_seq2seq: bool) -> torch.Tensor:
    """The labels each logit is scored against: shifted by one for decoder-only models (teacher forcing)."""
    return batch["labels"] if is_seq2seq else batch["labels"][:, 1:]


def count_loss_tokens(batch: dict[str, torch.Tensor], is_seq2seq: bool) -> int:
    return int((target_labels(batch, is_seq2seq) != IGNORE_INDEX).sum())


def _decoder_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # use_cache=False: a cache would switch off the block-diagonal mask of packed rows (see train/packing.py)
    keys = ("input_ids", "attention_mask", "position_ids")
    return {k: batch[k] for k in keys if k in batch} | {"use_cache": False}


def summed_loss(
    model: Any, batch: dict[str, torch.Tensor], is_seq2seq: bool, head: nn.Linear | None = None, chunk: int = 1024
) -> torch.Tensor:
    """Sum of token cross-entropies over the loss-bearing positions of a batch (a 0-dim tensor).

    With `head` (the model's output projection, see `chunkable_head`), a decoder-only model's logits are computed
    only at loss positions, `chunk` at a time; without it, through the model's own forward.
    """
    if head is not None and not is_seq2seq:
        return _chunked_loss(model, batch, head, chunk)
    if is_seq2seq:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        logits = out.logits  # (B, T_target, V): position t predicts labels[t]
    else:
        logits = model(**_decoder_inputs(batch)).logits[:, :-1]  # (B, T-1, V): position t predicts token t+1
    labels = target_labels(batch, is_seq2seq)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # fp32 under bf16; fp64 stays fp64
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )


def _chunked_loss(model: Any, batch: dict[str, torch.Tensor], head: nn.Linear, chunk: int) -> torch.Tensor:
    # The forward goes through `model` itself (DDP hooks, peft), asking for no logits at all.
    no_logits = torch.zeros(0, dtype=torch.long, device=batch["input_ids"].device)
    out = model(**_decoder_inputs(batch), output_hidden_states=True, logits_to_keep=no_logits)
    hidden = out.hidden_states[-1][:, :-1]  # (B, T-1, H): the final (normed) state, position t predicts t+1
    labels = target_labels(batch, is_seq2seq=False)
    keep = labels != IGNORE_INDEX
    return chunked_cross_entropy(head, hidden[keep], labels[keep], chunk)  # hidden[keep]: (N_loss, H)


def chunkable_head(model: Any) -> tuple[nn.Linear | None, str]:
    """The output projection, when the chunked head gives this model's logits exactly; else (None, why not).

    Checked on a short input rather than guessed from the class: the last hidden state projected by the output
    layer must equal the model's own logits (models that scale or soft-cap logits fail here and keep the full head).
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft wraps the model
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    if type(head) is not nn.Linear:
        return None, f"its output layer is {type(head).__name__}, not a plain Linear"
    if "logits_to_keep" not in inspect.signature(base.forward).parameters:
        return None, "its forward takes no logits_to_keep"
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ids = torch.arange(8, device=head.weight.device)[None] % head.out_features
            full = model(input_ids=ids, use_cache=False).logits
            none = torch.zeros(0, dtype=torch.long, device=ids.device)
            out = model(input_ids=ids, use_cache=False, output_hidden_states=True, logits_to_keep=none)
            same = torch.allclose(head(out.hidden_states[-1]).float(), full.float(), rtol=1e-4, atol=1e-4)
    except (TypeError, ValueError, AttributeError) as e:
        return None, f"the probe forward failed ({type(e).__name__}: {e})"
    finally:
        model.train(was_training)
    return (head, "") if same else (None, "its logits are not the output layer applied to the last hidden state")
