"""The novelty filter, fast: ROUGE-L F1 exactly as rouge-score computes it, with the LCS done in C by rapidfuzz.

Self-Instruct rejects a candidate instruction whose ROUGE-L F1 with any seed or any instruction kept so far is
> 0.7. rouge-score's Python LCS makes that quadratic loop cost CPU-hours at 52K instructions. Here each distinct
token becomes one character, so the LCS of two token lists is the LCS of two short strings, which rapidfuzz
computes bit-parallel (`process.cdist`, many pairs per call).

Every score that decides or is reported is rouge-score's own formula on the integer LCS, `2 * p * r / (p + r)`
with p = lcs / len(pool item), r = lcs / len(candidate), in float64: a shortcut like `2 * lcs / (m + n)` is the
same number on paper but rounds differently and flips decisions at exactly 0.7. The bulk pass uses that shortcut
all the same, as rapidfuzz's Indel ratio (which is 2 lcs / (m + n), computed in C with no numpy pass over the
pairs), to find the few pairs that matter: those within 1e-9 of the threshold or of the top scores. Their LCS is
read back exactly from the ratio (an integer, rint(ratio * (m + n) / 2)) and rouge-score's formula decides.
The mean similarity, a statistic no decision uses, is the mean of the ratios (it differs by ~1e-16).

A rejected candidate needs no more pairs once one is above the threshold. The pool is scanned in chunks, newest
first, and a candidate leaves the scan at the first chunk that rejects it; as the pool grows most candidates are
rejected, so most of the quadratic work goes. A kept candidate is compared with every pool item (the top-k
neighbours and the mean similarity need every pair).

Chunks are scored `workers` at a time in threads; rapidfuzz's own `workers` would split only a request's dozen
candidates, and two of those were slower than one (150 s against 109 s on the benchmark's 52K pool).

Measured on that pool (bench/selfinstruct_novelty.py, 2 cores): every pair scored with numpy F1, 276 s; the early
exit, 109-124 s; the Indel ratio and two chunk threads, see the README. Tried and dropped: skipping pool items by
the length bound F1 <= 2 min(m, n) / (m + n), 238 s (instructions are of similar lengths, so it skips few pairs
and costs a call per length).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from rapidfuzz.distance import Indel, LCSseq
from rapidfuzz.process import cdist
from rouge_score.rouge_scorer import _score_lcs
from rouge_score.tokenizers import DefaultTokenizer

_TOKENIZER = DefaultTokenizer(use_stemmer=False)
_CHUNK = 4096  # pool items per rapidfuzz call in the early-exit scan
_SLACK = 1e-9  # ratio vs rouge-score's F1: they differ by ~1e-16, far below this


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokens: lower-cased, runs of non-[a-z0-9] are separators, no stemming.

    >>> rouge_tokens("Write a haiku -- about Autumn's rain!")
    ['write', 'a', 'haiku', 'about', 'autumn', 's', 'rain']
    """
    return _TOKENIZER.tokenize(text)


def rouge_l_f1(lcs: np.ndarray, m: np.ndarray, n: np.ndarray) -> np.ndarray:
    """ROUGE-L F1 from LCS lengths, candidate lengths `m` (recall side) and pool lengths `n` (precision side),
    bit-identical to rouge-score's `_score_lcs(...).fmeasure` (0 when either side has no tokens).

    >>> float(rouge_l_f1(np.array([7]), np.array([10]), np.array([10]))[0]) == _score_lcs(list("abcdefghij"), list("abcdefgxyz")).fmeasure
    True
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        p = lcs / n
        r = lcs / m
        f = 2 * p * r / (p + r)  # evaluated left to right, as rouge-score's scoring.fmeasure
    # lcs == 0 covers every degenerate case (an empty side has lcs 0); rouge-score gives 0 there, numpy nan
    return np.where(lcs > 0, f, 0.0)


@dataclass(frozen=True)
class Verdict:
    """What the filter decided about one candidate. `max_score` is over the compared pairs: every pair for a kept
    candidate; for one rejected early, those compared until then (above the threshold, maybe below the true max).
    `neighbours` are the most similar pool items (text, F1), best first; `mean_score` and `max_seed_score` are
    None with neighbours=0."""

    keep: bool
    max_score: float
    neighbours: tuple[tuple[str, float], ...] = ()
    mean_score: float | None = None
    max_seed_score: float | None = None


class NoveltyIndex:
    """The pool of instructions a candidate must differ from.

    Args:
        threshold: reject when the max F1 is > threshold (the paper: 0.7; 0.7 itself is kept).
        neighbours: keep this many most similar pool items per kept candidate, and the mean similarity
            (the paper: 10). 0 keeps only the decision and its max score.
        workers: threads that score pool chunks at once (rapidfuzz releases the GIL); None: every core.
            Decisions and scores do not depend on it.

    >>> idx = NoveltyIndex(neighbours=2)
    >>> idx.add_many(["Write a poem about the sea.", "Summarize the article in one sentence."], seeds=True)
    >>> [v.keep for v in idx.check(["Write a poem about the sea!", "Translate the sentence into French."])]
    [False, True]
    >>> len(idx)
    3
    """

    def __init__(self, threshold: float = 0.7, neighbours: int = 10, workers: int | None = 1) -> None:
        self.threshold, self.k = threshold, neighbours
        self.workers = max(1, workers if workers is not None else os.cpu_count() or 1)
        self._threads = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        self.vocab: dict[str, str] = {}
        self.texts: list[str] = []
        self.strings: list[str] = []  # one character per token
        self.lengths = np.zeros(1024, dtype=np.int64)
        self.num_seeds = 0

    def __len__(self) -> int:
        return len(self.texts)

    def encode(self, text: str) -> str:
        """The text's rouge tokens as a string, one character per distinct token (surrogates skipped)."""
        out = []
        for tok in rouge_tokens(text):
            ch = self.vocab.get(tok)
            if ch is None:
                code = 0x100 + len(self.vocab)
                ch = self.vocab[tok] = chr(code if code < 0xD800 else code + 0x800)
            out.append(ch)
        return "".join(out)

    def add_many(self, texts: Sequence[str], seeds: bool = False) -> None:
        """Add texts without checking them (seeds first, then a replayed store)."""
        if seeds and self.num_seeds != len(self.texts):
            raise ValueError("seeds must be added before any other instruction")
        for t in texts:
            self._append(t, self.encode(t))
        if seeds:
            self.num_seeds = len(self.texts)

    def _append(self, text: str, s: str) -> None:
        i = len(self.texts)
        if i == len(self.lengths):
            self.lengths = np.concatenate([self.lengths, np.zeros_like(self.lengths)])
        self.texts.append(text)
        self.strings.append(s)
        self.lengths[i] = len(s)

    def check(self, candidates: Sequence[str], limit: int | None = None) -> list[Verdict]:
        """Decide each candidate in order against the pool and the candidates kept before it in this call; kept
        ones join the pool. With `limit`, stop keeping after that many (later candidates get keep=False,
        max_score=nan: not examined)."""
        strings = [self.encode(c) for c in candidates]
        m = np.array([len(s) for s in strings], dtype=np.int64)
        base = len(self.texts)
        ratios, pool_rejected = self._scan(strings, m)
        inner = cdist(strings, strings, scorer=LCSseq.similarity, dtype=np.int64, workers=1) if strings else None
        verdicts: list[Verdict] = []
        kept: list[int] = []  # positions in `candidates` kept so far
        for i, text in enumerate(candidates):
            if limit is not None and len(kept) >= limit:
                verdicts.append(Verdict(False, float("nan")))
                continue
            if i in pool_rejected:
                verdicts.append(Verdict(False, pool_rejected[i]))
                continue
            batch = rouge_l_f1(inner[i, kept], m[i], m[kept]) if kept else np.zeros(0)
            ratio = ratios[i] if m[i] else np.zeros(base)  # an empty candidate: F1 0 with all (ratio('', '') is 1)
            top = self._exact_top(ratio, int(m[i]), max(self.k, 1))  # its first is the pool's max
            best = max([*top[1][:1].tolist(), *batch.tolist(), 0.0])
            if best > self.threshold:
                verdicts.append(Verdict(False, best))
                continue
            verdicts.append(self._stats(ratio, int(m[i]), top, batch, kept, candidates, best) if self.k
                            else Verdict(True, best))
            kept.append(i)
            self._append(text, strings[i])
        assert len(self.texts) == base + len(kept)
        return verdicts

    def _scan(self, strings: list[str], m: np.ndarray) -> tuple[dict[int, np.ndarray], dict[int, float]]:
        """Scan the pool newest first, `workers` chunks at a time. A candidate leaves the scan after the first
        round of chunks holding an F1 above the threshold: returned as {position: the largest such F1 there}.
        The others get their Indel ratio with every pool item: {position: (N,) row}."""
        n, t = len(self.texts), self.threshold
        rejected: dict[int, float] = {}
        alive = list(range(len(strings)))
        bounds = [(max(0, hi - _CHUNK), hi) for hi in range(n, 0, -_CHUNK)]
        chunks: list[tuple[int, int, list[int], np.ndarray]] = []
        for w in range(0, len(bounds), self.workers):
            if not alive:
                break
            queries = [strings[i] for i in alive]
            score = lambda b: cdist(queries, self.strings[b[0] : b[1]], scorer=Indel.normalized_similarity,  # noqa: E731
                                    dtype=np.float64, workers=1)
            wave = bounds[w : w + self.workers]
            ratios = list(self._threads.map(score, wave) if self._threads and len(wave) > 1 else map(score, wave))
            for (lo, hi), ratio in zip(wave, ratios):
                chunks.append((lo, hi, alive, ratio))
                for r in np.flatnonzero(ratio.max(axis=1) > t - _SLACK).tolist():
                    near = np.flatnonzero(ratio[r] > t - _SLACK)
                    best = float(self._f1(ratio[r, near], int(m[alive[r]]), lo + near).max())
                    if best > t:
                        rejected[alive[r]] = max(best, rejected.get(alive[r], best))
            alive = [i for i in alive if i not in rejected]
        rows: dict[int, np.ndarray] = {}
        if alive:
            full = np.zeros((len(alive), n))
            for lo, hi, present, ratio in chunks:
                where = {i: r for r, i in enumerate(present)}
                full[:, lo:hi] = ratio[[where[i] for i in alive]]
            rows = {i: full[r] for r, i in enumerate(alive)}
        return rows, rejected

    def _f1(self, ratio: np.ndarray, m: int, idx: np.ndarray) -> np.ndarray:
        """rouge-score's F1 for pool items `idx` from their Indel ratios: the LCS is an integer, so it reads back
        exactly."""
        n = self.lengths[idx]
        return rouge_l_f1(np.rint(ratio * (m + n) / 2), np.int64(m), n)

    def _exact_top(self, ratio: np.ndarray, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k pool items (the first len(ratio)) with the highest rouge-score F1, best first, ties to the earlier
        item: every item within the slack of the k-th highest ratio is scored exactly, then sorted."""
        if not len(ratio) or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if k == 1:
            kth = ratio.max()
        else:
            kth = np.partition(ratio, len(ratio) - k)[len(ratio) - k] if len(ratio) > k else ratio.min()
        near = np.flatnonzero(ratio >= kth - _SLACK)
        f1 = self._f1(ratio[near], m, near)
        order = np.lexsort((near, -f1))[:k]
        return near[order], f1[order]

    def _stats(self, ratio: np.ndarray, m: int, top: tuple[np.ndarray, np.ndarray], batch: np.ndarray,
               kept: list[int], candidates: Sequence[str], best: float) -> Verdict:
        """Top-k neighbours, mean and max-over-seeds for a kept candidate, from its ratios with the pool, its
        exact top-k there (`_exact_top`) and its F1 with the ones kept before it in this batch."""
        idx, f1 = top
        pairs = [(self.texts[int(j)], float(s), int(j)) for j, s in zip(idx, f1)]
        pairs += [(candidates[kept[j]], float(s), len(ratio) + j) for j, s in enumerate(batch.tolist())]
        pairs.sort(key=lambda p: (-p[1], p[2]))
        seed_f1 = self._exact_top(ratio[: self.num_seeds], m, 1)[1]
        total = len(ratio) + len(batch)
        mean = (float(ratio.sum()) + float(batch.sum())) / total if total else 0.0
        return Verdict(True, best, tuple((t, s) for t, s, _ in pairs[: self.k]), mean,
                       float(seed_f1[0]) if len(seed_f1) else None)


def reference_decisions(candidates: Sequence[str], pool: Sequence[str], threshold: float = 0.7) -> list[bool]:
    """The slow reference: rouge-score's own LCS on every pair, the way the paper's script loops. Kept candidates
    join the pool. For tests and the benchmark only."""
    pool_tokens = [rouge_tokens(p) for p in pool]
    keep = []
    for c in candidates:
        tokens = rouge_tokens(c)
        ok = all(_score_lcs(tokens, p).fmeasure <= threshold for p in pool_tokens)
        keep.append(ok)
        if ok:
            pool_tokens.append(tokens)
    return keep
