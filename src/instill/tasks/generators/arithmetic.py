"""Arithmetic instances with a worked chain of thought, so the CoT formats have reasoning to train on."""

from __future__ import annotations

import random

from instill.tasks.generators import generator


@generator("addition", fields=("a", "b", "answer", "chain_of_thought"))
def addition(rng: random.Random) -> dict:
    a, b = rng.randint(0, 999), rng.randint(0, 999)
    ones = a % 10 + b % 10
    cot = (f"Add the ones: {a % 10} + {b % 10} = {ones}. Add the rest: {a - a % 10} + {b - b % 10} = "
           f"{a - a % 10 + b - b % 10}. Together: {a - a % 10 + b - b % 10} + {ones} = {a + b}.")
    return {"a": a, "b": b, "answer": str(a + b), "chain_of_thought": cot}


@generator("even_odd", fields=("number", "answer"))
def even_odd(rng: random.Random) -> dict:
    n = rng.randint(0, 9999)
    return {"number": n, "answer": "even" if n % 2 == 0 else "odd"}
