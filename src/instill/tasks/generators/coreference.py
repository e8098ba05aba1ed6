"""Pronoun resolution where the answer is fixed by grammar or by a small table: gender, number, and size.

"Anna gave Tom her book because she was leaving": only one of the two people is a woman, so "she" is determined.
"The girls thanked the teacher because they...": only one of the two is plural. "The trophy did not fit in the
suitcase because it was too big": the thing that does not fit is too big, the container too small.
"""

from __future__ import annotations

import random

from instill.tasks.generators import generator

WOMEN = ["Anna", "Clara", "Emma", "Grace", "Iris", "Kate", "Mia", "Olivia", "Rosa", "Tina", "Wendy", "Lena", "Nora"]
MEN = ["Ben", "David", "Felix", "Henry", "Jack", "Leo", "Noah", "Paul", "Sam", "Victor", "Omar", "Hugo", "Ivan"]

# (main clause with {a} the subject and {b} the object, reason clause with {p} the pronoun subject)
EVENTS = [
    ("{a} gave {b} a book", "{p} was leaving town"), ("{a} called {b}", "{p} needed help with homework"),
    ("{a} thanked {b}", "{p} had fixed the door"), ("{a} waited for {b}", "{p} was running late"),
    ("{a} lent {b} an umbrella", "{p} had forgotten one"), ("{a} visited {b}", "{p} was ill"),
    ("{a} smiled at {b}", "{p} had told a funny joke"), ("{a} helped {b}", "{p} was carrying heavy bags"),
    ("{a} phoned {b}", "{p} had won a prize"), ("{a} wrote to {b}", "{p} had moved away"),
    ("{a} cooked dinner for {b}", "{p} was very hungry"), ("{a} drove {b} to the station", "{p} had a train to catch"),
]
CONNECTIVES = ["because", "since", "as"]


@generator("coref_gender", fields=("sentence", "pronoun", "answer", "choices", "resolved", "chain_of_thought"))
def coref_gender(rng: random.Random) -> dict:
    woman, man = rng.choice(WOMEN), rng.choice(MEN)
    a, b = (woman, man) if rng.random() < 0.5 else (man, woman)
    main, reason = rng.choice(EVENTS)
    target_woman = rng.random() < 0.5
    pronoun = "she" if target_woman else "he"
    referent = woman if target_woman else man
    conn = rng.choice(CONNECTIVES)
    head = main.format(a=a, b=b)
    sentence = f"{head} {conn} {reason.format(p=pronoun)}."
    resolved = f"{head} {conn} {reason.format(p=referent)}."
    choices = [a, b]
    kind = "woman" if target_woman else "man"
    cot = (f"\"{pronoun.capitalize()}\" refers to a {kind}. Of {a} and {b}, only {referent} is a {kind}. "
           f"So \"{pronoun}\" is {referent}.")
    return {"sentence": sentence, "pronoun": pronoun, "answer": referent, "choices": choices, "resolved": resolved,
            "chain_of_thought": cot}


SINGULAR = ["the teacher", "the coach", "the driver", "the doctor", "the farmer", "the baker", "the guide",
            "the captain", "the nurse", "the judge"]
PLURAL = ["the children", "the students", "the players", "the girls", "the boys", "the tourists", "the workers",
          "the neighbors", "the twins", "the singers"]
# (main clause, reason clause for a singular subject pronoun, reason clause for "they"); {p}: pronoun or name
NUMBER_EVENTS = [
    ("{a} thanked {b}", "{p} {was} very kind"), ("{a} followed {b}", "{p} knew the way"),
    ("{a} listened to {b}", "{p} {was} telling a story"), ("{a} waited for {b}", "{p} {was} still eating"),
    ("{a} cheered for {b}", "{p} had won the match"), ("{a} called {b}", "{p} had the keys"),
    ("{a} helped {b}", "{p} {was} lost"), ("{a} laughed with {b}", "{p} had made a joke"),
]


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


@generator("coref_number", fields=("sentence", "pronoun", "answer", "choices", "resolved", "chain_of_thought"))
def coref_number(rng: random.Random) -> dict:
    one, many = rng.choice(SINGULAR), rng.choice(PLURAL)
    a, b = (one, many) if rng.random() < 0.5 else (many, one)
    main, reason = rng.choice(NUMBER_EVENTS)
    to_plural = rng.random() < 0.5
    pronoun = "they" if to_plural else rng.choice(["he", "she"])
    referent = many if to_plural else one
    was = "were" if to_plural else "was"
    conn = rng.choice(CONNECTIVES)
    head = _cap(main.format(a=a, b=b))
    sentence = f"{head} {conn} {reason.format(p=pronoun, was=was)}."
    resolved = f"{head} {conn} {reason.format(p=referent, was=was)}."
    kind = "more than one person" if to_plural else "one person"
    cot = (f"\"{_cap(pronoun)}\" refers to {kind}. {_cap(many)} are many people and {one} is one person. "
           f"So \"{pronoun}\" is {referent}.")
    return {"sentence": sentence, "pronoun": pronoun, "answer": referent, "choices": [a, b], "resolved": resolved,
            "chain_of_thought": cot}


# things that go inside containers, with a size order: a thing fits a container only if it is small enough
ITEMS = ["trophy", "guitar", "suitcase", "lamp", "pillow", "painting", "bottle", "book", "ball", "box"]
CONTAINERS = ["bag", "box", "drawer", "car", "backpack", "case", "cupboard", "basket"]
FIT_VERBS = [("did not fit in", "fit"), ("would not go into", "go in"), ("could not be put in", "fit")]


@generator("coref_size", fields=("sentence", "pronoun", "answer", "choices", "resolved", "chain_of_thought"))
def coref_size(rng: random.Random) -> dict:
    item = rng.choice(ITEMS)
    container = rng.choice([c for c in CONTAINERS if c != item])
    verb, _ = rng.choice(FIT_VERBS)
    too_big = rng.random() < 0.5
    adj = rng.choice(["big", "large", "wide", "tall"]) if too_big else rng.choice(["small", "narrow", "tiny"])
    referent = f"the {item}" if too_big else f"the {container}"
    sentence = f"The {item} {verb} the {container} because it was too {adj}."
    resolved = f"The {item} {verb} the {container} because {referent} was too {adj}."
    why = (f"A thing does not fit when it is too {adj}, so \"it\" is the {item}." if too_big else
           f"A container is too {adj} when something does not fit in it, so \"it\" is the {container}.")
    return {"sentence": sentence, "pronoun": "it", "answer": referent, "choices": [f"the {item}", f"the {container}"],
            "resolved": resolved, "chain_of_thought": why}
