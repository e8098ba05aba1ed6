"""Paraphrase identification with deterministic rewrites: active <-> passive voice, and one-word synonym swaps.

A "yes" pair is one sentence and its rewrite (the passive of the active sentence, or the same sentence with one word
swapped for its synonym from the table below); a "no" pair changes the meaning on purpose (roles swapped, another
verb or person, an antonym), so the label is determined and so is the rewrite the inverted templates ask for.
"""

from __future__ import annotations

import random
import re

from instill.tasks.generators import generator

NAMES = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Henry", "Iris", "Jack", "Kate", "Leo", "Mia",
         "Noah", "Olivia", "Paul", "Rosa", "Sam", "Tina", "Victor"]
# (past, past participle) of verbs whose object is a person
PERSON_VERBS = [("helped", "helped"), ("called", "called"), ("visited", "visited"), ("thanked", "thanked"),
                ("followed", "followed"), ("taught", "taught"), ("chased", "chased"), ("invited", "invited"),
                ("saw", "seen"), ("hugged", "hugged")]
# (past, past participle, objects it fits)
THING_VERBS = [
    ("painted", "painted", ["the fence", "the door", "the wall", "the boat"]),
    ("fixed", "fixed", ["the bike", "the roof", "the clock", "the radio"]),
    ("built", "built", ["the shed", "the bridge", "the table", "the treehouse"]),
    ("wrote", "written", ["the letter", "the song", "the poem", "the report"]),
    ("ate", "eaten", ["the cake", "the apple", "the soup", "the sandwich"]),
    ("cleaned", "cleaned", ["the kitchen", "the car", "the window", "the floor"]),
    ("sold", "sold", ["the house", "the piano", "the car", "the bike"]),
    ("found", "found", ["the key", "the map", "the wallet", "the ring"]),
    ("opened", "opened", ["the box", "the door", "the window", "the letter"]),
    ("broke", "broken", ["the vase", "the window", "the cup", "the clock"]),
    ("washed", "washed", ["the dishes", "the car", "the dog", "the shirt"]),
    ("drew", "drawn", ["the map", "the picture", "the plan", "the circle"]),
]


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _was(obj: str) -> str:
    return "were" if obj == "the dishes" else "was"


@generator("paraphrase_voice", fields=("sentence1", "sentence2", "answer", "active", "passive", "chain_of_thought"))
def paraphrase_voice(rng: random.Random) -> dict:
    agent = rng.choice(NAMES)
    if rng.random() < 0.4:
        past, pp = rng.choice(PERSON_VERBS)
        obj = rng.choice([n for n in NAMES if n != agent])
        objects, verbs = None, [v for v in PERSON_VERBS if v[0] != past]
    else:
        past, pp, objects = rng.choice(THING_VERBS)
        obj = rng.choice(objects)
        verbs = [(p, q) for p, q, objs in THING_VERBS if obj in objs and p != past]
    active = f"{agent} {past} {obj}."
    passive = f"{_cap(obj)} {_was(obj)} {pp} by {agent}."
    meaning = f"{agent} {past} {obj}"
    answer = rng.choice(["yes", "no"])
    first_active = rng.random() < 0.5
    s1 = active if first_active else passive
    if answer == "yes":
        s2 = passive if first_active else active
        cot = f"Both sentences say that {meaning}. One is active and one is passive. So yes."
    else:
        kinds = ["agent"] + (["swap"] if objects is None else []) + (["verb"] if verbs else [])
        kind = rng.choice(kinds)
        if kind == "swap":
            other = f"{obj} {past} {agent}"
            new_active, new_passive = f"{obj} {past} {agent}.", f"{agent} was {pp} by {obj}."
        elif kind == "verb":
            p2, q2 = rng.choice(verbs)
            other = f"{agent} {p2} {obj}"
            new_active, new_passive = f"{agent} {p2} {obj}.", f"{_cap(obj)} {_was(obj)} {q2} by {agent}."
        else:
            a2 = rng.choice([n for n in NAMES if n not in (agent, obj)])
            other = f"{a2} {past} {obj}"
            new_active, new_passive = f"{a2} {past} {obj}.", f"{_cap(obj)} {_was(obj)} {pp} by {a2}."
        s2 = new_passive if first_active else new_active
        cot = f"The first sentence says that {meaning}. The second says that {other}. So no."
    return {"sentence1": s1, "sentence2": s2, "answer": answer, "active": active, "passive": passive,
            "chain_of_thought": cot}


# (word, synonym, a word of the same kind with another meaning)
PERSON_ADJ = [("smart", "clever", "lazy"), ("scared", "afraid", "brave"), ("tired", "sleepy", "lively"),
              ("sick", "ill", "healthy"), ("rich", "wealthy", "poor"), ("happy", "glad", "sad"),
              ("angry", "cross", "calm"), ("polite", "courteous", "rude")]
THING_ADJ = [("big", "large", "small"), ("little", "small", "huge"), ("fast", "quick", "slow"),
             ("quiet", "silent", "noisy"), ("pretty", "beautiful", "ugly"), ("huge", "enormous", "tiny"),
             ("damp", "moist", "dry"), ("costly", "expensive", "cheap")]
THINGS = ["house", "car", "garden", "boat", "room", "horse", "shop", "dog"]
VERBS = [("began", "started", "skipped", ["the meeting", "the lesson", "the race"]),
         ("shut", "closed", "opened", ["the door", "the window", "the shop"]),
         ("chose", "picked", "refused", ["a book", "a seat", "a color"]),
         ("fixed", "repaired", "broke", ["the bike", "the roof", "the clock"]),
         ("bought", "purchased", "sold", ["a car", "a ticket", "a lamp"]),
         ("ended", "finished", "started", ["the game", "the meeting", "the story"]),
         ("hid", "concealed", "showed", ["the key", "the letter", "the gift"]),
         ("grabbed", "seized", "dropped", ["the rope", "the bag", "the ball"])]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@generator("paraphrase_synonym", fields=("sentence1", "sentence2", "answer", "word", "replacement",
                                         "chain_of_thought"))
def paraphrase_synonym(rng: random.Random) -> dict:
    name = rng.choice(NAMES)
    kind = rng.choice(["person", "thing", "verb", "verb"])
    if kind == "person":
        word, syn, other = rng.choice(PERSON_ADJ)
        frame = rng.choice([f"{name} felt {{}} after the long trip.", f"{name} was {{}} all day.",
                            f"Everyone says {name} is very {{}}.", f"{name} looked {{}} at the party."])
    elif kind == "thing":
        word, syn, other = rng.choice(THING_ADJ)
        thing = rng.choice(THINGS)
        frame = rng.choice([f"The {thing} was very {{}}.", f"{name} has a {{}} {thing}.",
                            f"{name} said the {thing} is {{}}.", f"They walked past a {{}} {thing}."])
    else:
        word, syn, other, objs = rng.choice(VERBS)
        frame = rng.choice([f"{name} {{}} {rng.choice(objs)} on {rng.choice(DAYS)}.",
                            f"{name} {{}} {rng.choice(objs)} quickly.",
                            f"After lunch, {name} {{}} {rng.choice(objs)}."])
    answer = rng.choice(["yes", "no"])
    replacement = syn if answer == "yes" else other
    if rng.random() < 0.3:  # the synonym may be on either side
        word, replacement = replacement, word
    s1, s2 = (re.sub(r"\ba ([aeiou])", r"an \1", frame.format(w)) for w in (word, replacement))
    same = "mean the same thing" if answer == "yes" else "do not mean the same thing"
    cot = (f"The sentences differ in one word: \"{word}\" and \"{replacement}\". These words {same}. "
           f"So {answer}.")
    return {"sentence1": s1, "sentence2": s2, "answer": answer, "word": word, "replacement": replacement,
            "chain_of_thought": cot}
