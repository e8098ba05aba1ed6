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


@generator("subtraction", fields=("a", "b", "answer", "chain_of_thought"))
def subtraction(rng: random.Random) -> dict:
    a = rng.randint(0, 999)
    b = rng.randint(0, a)  # never negative
    big, ones = b - b % 10, b % 10
    steps = []
    if big:
        steps.append(f"Take away the tens: {a} - {big} = {a - big}.")
    if ones or not big:
        steps.append(f"Take away the ones: {a - big} - {ones} = {a - b}.")
    return {"a": a, "b": b, "answer": str(a - b), "chain_of_thought": " ".join(steps)}


@generator("multiplication", fields=("a", "b", "answer", "chain_of_thought"))
def multiplication(rng: random.Random) -> dict:
    a, b = rng.randint(2, 99), rng.randint(2, 9)
    tens, ones = a - a % 10, a % 10
    if not tens or not ones:
        cot = f"{a} x {b} = {a * b}."
    else:
        cot = (f"Split {a} into {tens} and {ones}. {tens} x {b} = {tens * b}. {ones} x {b} = {ones * b}. "
               f"Together: {tens * b} + {ones * b} = {a * b}.")
    return {"a": a, "b": b, "answer": str(a * b), "chain_of_thought": cot}


@generator("compare_numbers", fields=("a", "b", "answer", "larger"))
def compare_numbers(rng: random.Random) -> dict:
    a = rng.randint(0, 999)
    if rng.random() < 0.5:  # close pairs too, where only the last digits decide
        b = a + rng.choice([-1, 1]) * rng.randint(1, 9)
        if not 0 <= b <= 999:
            b = a - (b - a)
    else:
        b = rng.choice([n for n in range(0, 1000, 7) if n != a])
    return {"a": a, "b": b, "answer": "larger" if a > b else "smaller", "larger": max(a, b)}


@generator("round_to_ten", fields=("number", "answer", "chain_of_thought"))
def round_to_ten(rng: random.Random) -> dict:
    n = rng.randint(0, 999)
    ones = n % 10
    if ones == 0:
        up, cot = n, f"The ones digit of {n} is 0, so {n} is already a multiple of ten."
    elif ones >= 5:
        up = n - ones + 10
        cot = f"The ones digit of {n} is {ones}, which is 5 or more, so round up to {up}."
    else:
        up = n - ones
        cot = f"The ones digit of {n} is {ones}, which is less than 5, so round down to {up}."
    return {"number": n, "answer": str(up), "chain_of_thought": cot}


_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def number_words(n: int) -> str:
    """0 to 99 in words: 'forty-two'.

    >>> number_words(42), number_words(70), number_words(13)
    ('forty-two', 'seventy', 'thirteen')
    """
    if n < 20:
        return _ONES[n]
    return _TENS[n // 10] + (f"-{_ONES[n % 10]}" if n % 10 else "")


@generator("number_to_words", fields=("number", "answer"), exhaustive=True)
def number_to_words(rng: random.Random) -> list[dict]:
    return [{"number": n, "answer": number_words(n)} for n in range(100)]
