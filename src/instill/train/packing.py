"""How a micro-batch is laid out as tensors: padded with an attention mask, right-padded without one, or packed
rows with position ids (train.batching picks one through `batching.BATCHINGS`; validation uses the same).

torch and instill.tokenize are imported inside the functions: config.py reads the batching registry, which names
these functions, and must load without torch (and before instill.tokenize, which reads config's defaults).

Why no mask: a 2D attention mask sends transformers' sdpa down a slower masked path, and with packed rows it also
switches off the block-diagonal mask transformers builds from position ids (transformers 5.23
`_preprocess_mask_arguments`: packing is detected only when `attention_mask is None` and there is no cache), so
examples would silently attend to each other. Callers must pass `use_cache=False` for the same reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from instill.tokenize import Encoded


def collate_padded(batch: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch: input_ids/attention_mask (B, T) and labels (B, T or T_target), -100 on padding."""
    import torch

    from instill.tokenize import IGNORE_INDEX

    width = max(len(e.input_ids) for e in batch)
    label_width = max(len(e.labels) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), label_width), IGNORE_INDEX, dtype=torch.long)
    for row, e in enumerate(batch):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        mask[row, : len(e.input_ids)] = 1
        labels[row, : len(e.labels)] = torch.tensor(e.labels)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def collate_unmasked(batch: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad without an attention mask (decoder-only models only).

    Causal attention lets position t see positions <= t, all real tokens when padding sits on the right; padded
    positions compute values nobody reads and carry label -100.
    """
    import torch

    from instill.tokenize import IGNORE_INDEX

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    for row, e in enumerate(batch):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[row, : len(e.labels)] = torch.tensor(e.labels)
    return {"input_ids": ids, "labels": labels}


def best_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Bins of indices whose lengths sum to at most `capacity`: longest first, each into the fullest bin it fits.

    >>> best_fit_decreasing([5, 3, 4, 2, 6], capacity=8)
    [[4, 3], [0, 1], [2]]
    """
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        fits = [b for b in range(len(bins)) if room[b] >= lengths[i]]
        if fits:
            b = min(fits, key=lambda b: room[b])
            bins[b].append(i)
            room[b] -= lengths[i]
        else:
            bins.append([i])
            room.append(capacity - lengths[i])
    return bins


def collate_packed(batch: list[Encoded], pad_id: int, row_length: int) -> dict[str, torch.Tensor]:
    """Pack sequences into rows of at most `row_length` tokens: input_ids, position_ids, labels, all (R, W).

    Position ids restart at 0 for every sequence, which is how transformers finds the boundaries and keeps
    attention inside each sequence. Each sequence's first label is -100, so the last position of one sequence is
    never scored against the first token of the next. Row ends are padded as one more sequence, with no labels.
    """
    import torch

    from instill.tokenize import IGNORE_INDEX

    rows = best_fit_decreasing([len(e.input_ids) for e in batch], max(row_length, max(len(e.input_ids) for e in batch)))
    width = max(sum(len(batch[i].input_ids) for i in row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            e, n = batch[i], len(batch[i].input_ids)
            ids[r, at : at + n] = torch.tensor(e.input_ids)
            labels[r, at + 1 : at + n] = torch.tensor(e.labels[1:])
            positions[r, at : at + n] = torch.arange(n)
            at += n
        positions[r, at:] = torch.arange(width - at)
    return {"input_ids": ids, "position_ids": positions, "labels": labels}

