"""Cross-entropy on response tokens only, summed, so the caller can divide by the step's total token count.

Summing first and dividing once per optimizer step makes the loss the mean over every loss token of the step,
whatever the micro-batch layout, accumulation or number of processes (see transformers#34191).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from instill.tokenize import IGNORE_INDEX


def target_labels(batch: dict[str, torch.Tensor], is_seq2seq: bool) -> torch.Tensor:
    """The labels each logit is scored against: shifted by one for decoder-only models (teacher forcing)."""
    return batch["labels"] if is_seq2seq else batch["labels"][:, 1:]


def count_loss_tokens(batch: dict[str, torch.Tensor], is_seq2seq: bool) -> int:
    return int((target_labels(batch, is_seq2seq) != IGNORE_INDEX).sum())


def summed_loss(model: Any, batch: dict[str, torch.Tensor], is_seq2seq: bool) -> torch.Tensor:
    """Sum of token cross-entropies over the loss-bearing positions of a batch (a 0-dim tensor)."""
    if is_seq2seq:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        logits = out.logits  # (B, T_target, V): position t predicts labels[t]
    else:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
        logits = out.logits[:, :-1]  # (B, T-1, V): position t predicts token t+1
    labels = target_labels(batch, is_seq2seq)
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
