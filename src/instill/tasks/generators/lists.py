"""List-manipulation instances: sort, reverse, first and last item, count, remove duplicates. A list is one string
field ("cat, dog, fish"), items separated by ", ", so templates stay plain."""

from __future__ import annotations

import random

from instill.tasks.generators import generator
from instill.tasks.generators.strings import NOUNS

SEP = ", "


def _words(rng: random.Random, low: int, high: int) -> list[str]:
    return rng.sample(NOUNS, rng.randint(low, high))


def _numbers(rng: random.Random, low: int, high: int) -> list[int]:
    return rng.sample(range(100), rng.randint(low, high))


def _join(items) -> str:
    return SEP.join(str(i) for i in items)


@generator("sort_numbers", fields=("items", "answer", "descending"))
def sort_numbers(rng: random.Random) -> dict:
    nums = _numbers(rng, 3, 6)
    return {"items": _join(nums), "answer": _join(sorted(nums)), "descending": _join(sorted(nums, reverse=True))}


@generator("reverse_list", fields=("items", "answer"))
def reverse_list(rng: random.Random) -> dict:
    words = _words(rng, 3, 6)
    return {"items": _join(words), "answer": _join(reversed(words))}


@generator("first_item", fields=("items", "answer", "rest"))
def first_item(rng: random.Random) -> dict:
    words = _words(rng, 3, 6)
    return {"items": _join(words), "answer": words[0], "rest": _join(words[1:])}


@generator("last_item", fields=("items", "answer", "rest"))
def last_item(rng: random.Random) -> dict:
    words = _words(rng, 3, 6)
    return {"items": _join(words), "answer": words[-1], "rest": _join(words[:-1])}


@generator("count_items", fields=("items", "answer"))
def count_items(rng: random.Random) -> dict:
    words = _words(rng, 2, 9)
    return {"items": _join(words), "answer": str(len(words))}


@generator("remove_duplicates", fields=("items", "answer"))
def remove_duplicates(rng: random.Random) -> dict:
    unique = _words(rng, 2, 5)
    # every unique word once, then 1 to 3 repeats, shuffled so that repeats are not always at the end
    items = unique + [rng.choice(unique) for _ in range(rng.randint(1, 3))]
    rng.shuffle(items)
    kept = list(dict.fromkeys(items))  # first occurrences, in order
    return {"items": _join(items), "answer": _join(kept)}
