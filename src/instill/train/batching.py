"""Length-grouped micro-batches under a token budget, fixed by the seed so that a resumed run sees the same data.

Each epoch: a seeded shuffle, cut into windows of `window` sequences; each window is sorted by length and cut into
micro-batches (a fixed count of sequences, or as many as fit the token budget); then the micro-batches of the whole
epoch are shuffled, so long and short batches alternate. Neighbours in a sorted window have nearly the same length,
so padding to the longest wastes little, while the windows keep the order random.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterator


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
