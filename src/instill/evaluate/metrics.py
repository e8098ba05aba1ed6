"""Scores as Super-NaturalInstructions defines them: exact match and ROUGE-L, best over references, x100.

Exact match compares after lower-casing, removing ASCII punctuation and collapsing white space (articles are
kept). ROUGE-L is the F-measure of `rouge_score` with its default tokenizer and the Porter stemmer on. Both take
the maximum over the references of an instance, and a set of instances scores the mean, times 100.
"""

from __future__ import annotations

import string
from functools import lru_cache
from typing import Iterable, Sequence

_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, collapse white space (SNI's `normalize_answer`; articles stay).

    >>> normalize_answer("  The  Answer: Paris! ")
    'the answer paris'
    """
    return " ".join(text.lower().translate(_PUNCTUATION).split())


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 when the normalized prediction equals any normalized reference.

    >>> exact_match("paris.", ["Paris", "City of Light"])
    1.0
    >>> exact_match("a Paris", ["Paris"])
    0.0
    """
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(ref) for ref in references))


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, references: Sequence[str]) -> float:
    """The best ROUGE-L F-measure of the prediction against any reference (0..1).

    >>> round(rouge_l("the cats sat", ["the cat sat on the mat"]), 4)
    0.6667
    """
    scorer = _scorer()
    return max((scorer.score(target=ref, prediction=prediction)["rougeL"].fmeasure for ref in references), default=0.0)


def mean_x100(values: Iterable[float]) -> float:
    """Mean of per-instance scores, times 100 (0 for no instances).

    >>> mean_x100([1.0, 0.0, 0.5])
    50.0
    """
    values = list(values)
    return 100.0 * sum(values) / len(values) if values else 0.0


def option_accuracy(predicted: str | None, answer: str) -> float:
    """1.0 when the chosen (or parsed) option is the answer, compared as exact match compares.

    >>> option_accuracy("(B) No.", "no"), option_accuracy(None, "no")
    (0.0, 0.0)
    >>> option_accuracy("No.", "no")
    1.0
    """
    return 0.0 if predicted is None else exact_match(predicted, [answer])
