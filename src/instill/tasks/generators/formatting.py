"""Text-formatting instances: title case, comma-joined words, snake_case, numbered lists, quoting. Inputs are
lowercase words from the shared word table, so each formatting step can be undone exactly (the inverted templates)."""

from __future__ import annotations

import random

from instill.tasks.generators import generator
from instill.tasks.generators.strings import phrase


@generator("title_case", fields=("text", "answer"))
def title_case(rng: random.Random) -> dict:
    words = phrase(rng, 2, 4)
    return {"text": " ".join(words), "answer": " ".join(w.capitalize() for w in words)}


@generator("join_with_commas", fields=("words", "answer"))
def join_with_commas(rng: random.Random) -> dict:
    words = phrase(rng, 2, 5)
    return {"words": " ".join(words), "answer": ", ".join(words)}


@generator("snake_case", fields=("text", "answer"))
def snake_case(rng: random.Random) -> dict:
    words = phrase(rng, 2, 4)
    return {"text": " ".join(words), "answer": "_".join(words)}


@generator("numbered_list", fields=("items", "answer"))
def numbered_list(rng: random.Random) -> dict:
    words = phrase(rng, 2, 4)
    return {"items": ", ".join(words), "answer": "\n".join(f"{i}. {w}" for i, w in enumerate(words, 1))}


@generator("wrap_in_quotes", fields=("text", "answer"))
def wrap_in_quotes(rng: random.Random) -> dict:
    text = " ".join(phrase(rng, 1, 4))
    return {"text": text, "answer": f'"{text}"'}
