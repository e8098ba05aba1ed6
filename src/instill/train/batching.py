"""Batching modes: which sequences form each micro-batch, and how a micro-batch becomes tensors.

`BATCHINGS` is the one list: `train.batching` in a recipe is `Literal[tuple(BATCHINGS)]`, the training loop builds
its stream and collates its micro-batches from the chosen entry, and validation collates as training does.

Every stream is fixed by the seed, so a resumed run sees the same data. Grouped and packed: each epoch: a seeded shuffle, cut into windows of `window` sequences; each window is sorted by length and cut into
micro-batches (a fixed count of sequences, or as many as fit the token budget); then the micro-batches of the whole
epoch are shuffled, so long and short batches alternate. Neighbours in a sorted window have nearly the same length,
so padding to the longest wastes little, while the windows keep the order random.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from instill.train.packing import collate_packed, collate_padded, collate_unmasked

if TYPE_CHECKING:
    from instill.config import TrainConfig


def grouped_batches(
    lengths: list[int], seed: int, window: int, batch_size: int, budget: int | None, packed: bool, sort: bool = True
) -> list[list[int]]:
    """One epoch of micro-batches (lists of sequence indices), grouped by length within shuffled windows.

    Without a budget a batch holds `batch_size` sequences. With one, a batch grows while its cost stays within
    `budget`: the padded size (count x longest) or, when `packed`, the sum of lengths. A sequence longer than the
    budget gets a batch of its own. `sort=False` keeps the shuffled order (padded batching under a budget).

    >>> grouped_batches([5, 1, 4, 2], seed=0, window=4, batch_size=2, budget=None, packed=False)
    [[0, 2], [3, 1]]
    >>> sorted(map(sorted, grouped_batches([5, 1, 4, 2], seed=0, window=4, batch_size=9, budget=6, packed=True)))
    [[0], [1], [2, 3]]
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        ranked = order[start : start + window]
        if sort:
            ranked.sort(key=lambda i: lengths[i], reverse=True)
        batches += _cut(ranked, lengths, batch_size, budget, packed)
    rng.shuffle(batches)
    return batches


def _cut(ranked: list[int], lengths: list[int], batch_size: int, budget: int | None, packed: bool) -> list[list[int]]:
    """Cut indices, in order, into consecutive batches of `batch_size` or within `budget`."""
    if budget is None:
        return [ranked[i : i + batch_size] for i in range(0, len(ranked), batch_size)]
    batches, current, total, longest = [], [], 0, 0
    for i in ranked:
        cost = total + lengths[i] if packed else (len(current) + 1) * max(longest, lengths[i])
        if current and cost > budget:
            batches.append(current)
            current, total, longest = [], 0, 0
        current.append(i)
        total, longest = total + lengths[i], max(longest, lengths[i])
    return batches + ([current] if current else [])


@dataclass
class GroupedStream:
    """Which micro-batches each (step, micro-batch, process) gets, for grouped or packed batching.

    Micro-batches run epoch after epoch; step s takes micro-batches [s*G, (s+1)*G) with G = grad_accum *
    world_size, process r the ones at k*world_size + r. Everything is a function of the seed and the step, so a
    resumed run continues exactly; a step may span two epochs, so no sequence is dropped.
    """

    lengths: list[int]
    batch_size: int
    grad_accum: int
    world_size: int
    seed: int
    window: int
    budget: int | None = None
    packed: bool = False
    sort: bool = True
    _epochs: dict[int, list[list[int]]] = field(default_factory=dict, repr=False)

    def epoch(self, e: int) -> list[list[int]]:
        if e not in self._epochs:
            self._epochs[e] = grouped_batches(self.lengths, self.seed * 100_003 + e, self.window, self.batch_size,
                                              self.budget, self.packed, self.sort)
        return self._epochs[e]

    @property
    def per_step(self) -> int:
        return self.grad_accum * self.world_size

    def steps_for(self, epochs: float) -> int:
        whole, part = int(epochs), epochs - int(epochs)
        micro = sum(len(self.epoch(e)) for e in range(whole)) + round(part * len(self.epoch(whole)))
        return max(1, -(-micro // self.per_step))

    def _at(self, position: int) -> list[int]:
        e = 0
        while position >= len(self.epoch(e)):
            position -= len(self.epoch(e))
            e += 1
        return self.epoch(e)[position]

    def micro_batches(self, step: int, rank: int) -> Iterator[list[int]]:
        """The sequence indices of each micro-batch of `step` for process `rank`."""
        for micro in range(self.grad_accum):
            yield self._at(step * self.per_step + micro * self.world_size + rank)


@dataclass(frozen=True)
class BatchStream:
    """Fixed-size micro-batches of shuffled sequences (padded batching without a token budget).

    The stream is epoch after epoch of seeded permutations; step s takes positions [s*G, (s+1)*G) where
    G = batch_size * grad_accum * world_size, so no example is dropped at an epoch's end.
    """

    n_examples: int
    batch_size: int
    grad_accum: int
    world_size: int
    seed: int

    @property
    def per_step(self) -> int:
        return self.batch_size * self.grad_accum * self.world_size

    def steps_for(self, epochs: float) -> int:
        return max(1, -(-int(epochs * self.n_examples) // self.per_step))

    def _permutation(self, epoch: int) -> list[int]:
        import torch  # torch's generator: the order runs made before this module held it keep

        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(self.n_examples, generator=gen).tolist()

    def micro_batches(self, step: int, rank: int) -> Iterator[list[int]]:
        """The example indices of each micro-batch of `step` for process `rank`."""
        cache: dict[int, list[int]] = {}
        for micro in range(self.grad_accum):
            start = step * self.per_step + (micro * self.world_size + rank) * self.batch_size
            idx = []
            for pos in range(start, start + self.batch_size):
                epoch = pos // self.n_examples
                if epoch not in cache:
                    cache[epoch] = self._permutation(epoch)
                idx.append(cache[epoch][pos % self.n_examples])
            yield idx


class Stream(Protocol):
    def steps_for(self, epochs: float) -> int: ...
    def micro_batches(self, step: int, rank: int) -> Iterator[list[int]]: ...


def _padded_stream(lengths: list[int], cfg: TrainConfig, world_size: int, seed: int) -> Stream:
    if cfg.tokens_per_batch is None:
        return BatchStream(len(lengths), cfg.batch_size, cfg.grad_accum, world_size, seed)
    # under a budget: shuffled order kept (one window, unsorted), cut where the padded size would pass the budget
    return GroupedStream(lengths, cfg.batch_size, cfg.grad_accum, world_size, seed, window=len(lengths),
                         budget=cfg.tokens_per_batch, sort=False)


def _grouped_stream(lengths: list[int], cfg: TrainConfig, world_size: int, seed: int) -> Stream:
    return GroupedStream(lengths, cfg.batch_size, cfg.grad_accum, world_size, seed, window=cfg.group_window,
                         budget=cfg.tokens_per_batch)


def _packed_stream(lengths: list[int], cfg: TrainConfig, world_size: int, seed: int) -> Stream:
    return GroupedStream(lengths, cfg.batch_size, cfg.grad_accum, world_size, seed, window=cfg.group_window,
                         budget=cfg.tokens_per_batch, packed=True)


@dataclass(frozen=True)
class Batching:
    """One batching mode.

    stream: (sequence lengths, train config, processes, seed) -> which sequences each micro-batch holds.
    collate: (sequences, pad id, row length) -> the tensors of one micro-batch, decoder-only models; row length
    is the packed row's budget, ignored by the others.
    decoder_only: refused for encoder-decoders; False means they get the padded collate (their labels are a
    separate target, which only it lays out).
    """

    stream: Callable[[list[int], Any, int, int], Stream]
    collate: Callable[[list, int, int], dict[str, Any]]
    decoder_only: bool = False


# The one list of batching modes: `train.batching` is `Literal[tuple(BATCHINGS)]`.
BATCHINGS: dict[str, Batching] = {
    "padded": Batching(_padded_stream, lambda seqs, pad, row_length: collate_padded(seqs, pad)),
    "grouped": Batching(_grouped_stream, lambda seqs, pad, row_length: collate_unmasked(seqs, pad)),
    "packed": Batching(_packed_stream, collate_packed, decoder_only=True),
}


def collate_batch(batching: str, seqs: list, pad_id: int, is_seq2seq: bool, row_length: int) -> dict[str, Any]:
    """The tensors of one micro-batch as `batching` lays it out (encoder-decoders: always padded with a mask)."""
    if is_seq2seq:
        return collate_padded(seqs, pad_id)
    return BATCHINGS[batching].collate(seqs, pad_id, row_length)
