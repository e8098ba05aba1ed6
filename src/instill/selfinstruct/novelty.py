"""The novelty filter, fast: ROUGE-L F1 exactly as rouge-score computes it, with the LCS done in C by rapidfuzz.

Self-Instruct rejects a candidate instruction whose ROUGE-L F1 with any seed or any instruction kept so far is
> 0.7. rouge-score's Python LCS makes that quadratic loop cost CPU-hours at 52K instructions. Here each distinct
token becomes one character, so the LCS of two token lists is the LCS of two short strings, which rapidfuzz
computes bit-parallel (`process.cdist`, many pairs per call). F1 is then computed from the integer LCS with
rouge-score's own formula, `2 * p * r / (p + r)` with p = lcs / len(pool item), r = lcs / len(candidate), in
float64: a shortcut like `2 * lcs / (m + n)` is the same number on paper but rounds differently and flips
decisions at exactly 0.7.

Cheap upper bound: LCS <= min(m, n), so F1 <= 2 min(m, n) / (m + n); pool items whose length cannot reach the
threshold are never compared when only the keep/reject decision is needed (`neighbours=0`). The top-k
neighbours and the mean similarity need every pair, and then every pair is computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from rapidfuzz.distance import LCSseq
from rapidfuzz.process import cdist
from rouge_score.rouge_scorer import _score_lcs
from rouge_score.tokenizers import DefaultTokenizer

_TOKENIZER = DefaultTokenizer(use_stemmer=False)
_SLACK = 1e-9  # the bound is exact arithmetic; float F1 differs from it by ~1e-16, far below this


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
    """What the filter decided about one candidate. `max_score` is over every compared pair (with neighbours=0,
    pairs skipped by the length bound count as 0: they cannot exceed the threshold). `neighbours` are the most
    similar pool items (text, F1), best first; `mean_score` and `max_seed_score` are None with neighbours=0."""

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
            (the paper: 10). 0 computes only the decision, skipping pairs by the length bound.
        workers: rapidfuzz threads (-1: all cores).

    >>> idx = NoveltyIndex(neighbours=2)
    >>> idx.add_many(["Write a poem about the sea.", "Summarize the article in one sentence."], seeds=True)
    >>> [v.keep for v in idx.check(["Write a poem about the sea!", "Translate the sentence into French."])]
    [False, True]
    >>> len(idx)
    3
    """

    def __init__(self, threshold: float = 0.7, neighbours: int = 10, workers: int = 1) -> None:
        self.threshold, self.k, self.workers = threshold, neighbours, workers
        self.vocab: dict[str, str] = {}
        self.texts: list[str] = []
        self.strings: list[str] = []  # one character per token
        self.lengths = np.zeros(1024, dtype=np.int64)
        self.num_seeds = 0
        self.by_length: dict[int, list[str]] = {}  # token count -> pool strings of that length (for the bound)

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
        self.by_length.setdefault(len(s), []).append(s)

    def check(self, candidates: Sequence[str], limit: int | None = None) -> list[Verdict]:
        """Decide each candidate in order against the pool and the candidates kept before it in this call; kept
        ones join the pool. With `limit`, stop keeping after that many (later candidates get keep=False,
        max_score=nan: not examined)."""
        strings = [self.encode(c) for c in candidates]
        m = np.array([len(s) for s in strings], dtype=np.int64)
        base = len(self.texts)
        rows = self._full_rows(strings, m) if self.k else self._bounded_max(strings, m)
        inner = cdist(strings, strings, scorer=LCSseq.similarity, dtype=np.int64, workers=1) if strings else None
        verdicts: list[Verdict] = []
        kept: list[int] = []  # positions in `candidates` kept so far
        for i, text in enumerate(candidates):
            if limit is not None and len(kept) >= limit:
                verdicts.append(Verdict(False, float("nan")))
                continue
            batch = rouge_l_f1(inner[i, kept], m[i], m[kept]) if kept else np.zeros(0)
            pool_max = (float(rows[i].max()) if len(rows[i]) else 0.0) if self.k else float(rows[i])
            best = max([pool_max, *batch.tolist()])
            if best > self.threshold:
                verdicts.append(Verdict(False, best))
                continue
            verdicts.append(self._stats(rows[i], batch, kept, candidates, best) if self.k else Verdict(True, best))
            kept.append(i)
            self._append(text, strings[i])
        assert len(self.texts) == base + len(kept)
        return verdicts

    def _full_rows(self, strings: list[str], m: np.ndarray) -> np.ndarray:
        """F1 of every candidate with every pool item: (B, N)."""
        n = len(self.texts)
        if not strings or not n:
            return np.zeros((len(strings), n))
        lcs = cdist(strings, self.strings, scorer=LCSseq.similarity, dtype=np.int64, workers=self.workers)
        return rouge_l_f1(lcs, m[:, None], self.lengths[None, :n])

    def _bounded_max(self, strings: list[str], m: np.ndarray) -> np.ndarray:
        """Max F1 of each candidate over the pool items that can exceed the threshold by their length: (B,).
        One rapidfuzz call per pool length, with only the candidates that length can matter for."""
        best = np.zeros(len(strings))
        for n, bucket in self.by_length.items():
            if n == 0:
                continue
            feasible = [i for i, mi in enumerate(m.tolist()) if mi and 2 * min(mi, n) / (mi + n) > self.threshold - _SLACK]
            if not feasible:
                continue
            lcs = cdist([strings[i] for i in feasible], bucket, scorer=LCSseq.similarity, dtype=np.int64,
                        workers=self.workers)
            f = rouge_l_f1(lcs, m[feasible][:, None], np.int64(n)).max(axis=1)
            best[feasible] = np.maximum(best[feasible], f)
        return best

    def _stats(self, row: np.ndarray, batch: np.ndarray, kept: list[int], candidates: Sequence[str],
               best: float) -> Verdict:
        """Top-k neighbours, mean and max-over-seeds for a kept candidate (its row over pool + kept in batch)."""
        scores = np.concatenate([row, batch])
        names = lambda j: self.texts[j] if j < len(row) else candidates[kept[j - len(row)]]  # noqa: E731
        top = np.argpartition(-scores, self.k)[: self.k] if len(scores) > self.k else np.arange(len(scores))
        order = top[np.lexsort((top, -scores[top]))]  # best first; ties: earlier first
        seeds = row[: self.num_seeds]
        return Verdict(True, best, tuple((names(int(j)), float(scores[j])) for j in order),
                       float(scores.mean()) if len(scores) else 0.0, float(seeds.max()) if len(seeds) else None)


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
