"""Natural language inference over a small generated world: people, towns, jobs, pets, cars, numbers, comparisons.

Each premise states a few facts; each hypothesis restates one (yes), contradicts one (no) or talks about something the
premise does not mention (it is not possible to tell), so the label follows from the facts alone. Every instance also
carries one hypothesis the premise entails, picked by a question in the prompt, for the inverted templates.
"""

from __future__ import annotations

import random

from instill.tasks.generators import generator

YES, MAYBE, NO = "yes", "it is not possible to tell", "no"

NAMES = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Henry", "Iris", "Jack", "Kate", "Leo", "Mia",
         "Noah", "Olivia", "Paul", "Rosa", "Sam", "Tina", "Victor", "Wendy", "Omar", "Lena", "Hugo", "Nora", "Ivan"]
TOWNS = ["Millbrook", "Ashford", "Cedarville", "Brookfield", "Riverton", "Oakdale", "Maplewood", "Stonebridge",
         "Fairhaven", "Elmstead", "Pinecrest", "Westvale"]
JOBS = ["baker", "teacher", "nurse", "pilot", "farmer", "painter", "doctor", "driver", "chef", "mechanic", "singer",
        "lawyer"]
PETS = ["cat", "dog", "rabbit", "parrot", "hamster", "goldfish", "turtle"]
COLORS = ["red", "blue", "green", "black", "white", "yellow", "silver"]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
UNMENTIONED = ["{n} has a sister.", "{n} likes to swim.", "{n} was born in winter.", "{n} plays the piano.",
               "{n} is married.", "{n} speaks three languages.", "{n} drinks coffee every morning.",
               "{n} has visited the sea."]


def a_or_an(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def pets(k: int, pet: str) -> str:
    return f"{NUMBER_WORDS[k]} {pet}{'' if k == 1 else ('' if pet == 'goldfish' else 's')}"


def _with_label(rng: random.Random, premise: str, options: list[tuple[str, str, str]], entailed: tuple[str, str],
                ) -> dict:
    """Pick a label at random, then one hypothesis with that label. options: (label, hypothesis, reasoning)."""
    label = rng.choice([YES, MAYBE, NO])
    _, hyp, why = rng.choice([o for o in options if o[0] == label])
    return {"premise": premise, "hypothesis": hyp, "answer": label, "chain_of_thought": why,
            "entailed_topic": entailed[0], "entailed": entailed[1]}


FIELDS = ("premise", "hypothesis", "answer", "chain_of_thought", "entailed_topic", "entailed")


@generator("nli_people", fields=FIELDS)
def nli_people(rng: random.Random) -> dict:
    n = rng.choice(NAMES)
    town, job, pet, color = rng.choice(TOWNS), rng.choice(JOBS), rng.choice(PETS), rng.choice(COLORS)
    k = rng.randint(1, 4)
    other_town = rng.choice([t for t in TOWNS if t != town])
    other_color = rng.choice([c for c in COLORS if c != color])
    other_k = rng.choice([x for x in range(1, 6) if x != k])
    facts = rng.sample(["town", "job", "pets", "car"], 2)
    parts = {
        "town": f"lives in {town}", "job": f"works as {a_or_an(job)} {job}", "pets": f"has {pets(k, pet)}",
        "car": f"drives {a_or_an(color)} {color} car",
    }
    premise = rng.choice([
        f"{n} {parts[facts[0]]} and {parts[facts[1]]}.",
        f"{n} {parts[facts[0]]}. {n} also {parts[facts[1]]}.",
        f"According to a neighbor, {n} {parts[facts[0]]} and {parts[facts[1]]}.",
    ])
    says = {f: f"The premise says that {n} {parts[f]}." for f in facts}
    options: list[tuple[str, str, str]] = []
    for f in facts:
        if f == "town":
            options += [(YES, f"{n} lives in {town}.", f"{says[f]} So yes."),
                        (NO, f"{n} lives in {other_town}.",
                         f"{says[f]} A person lives in one town, so {n} does not live in {other_town}."),
                        (NO, f"{n} does not live in {town}.", f"{says[f]} The hypothesis says the opposite.")]
        elif f == "job":
            options += [(YES, f"{n} is {a_or_an(job)} {job}.", f"{says[f]} So {n} is {a_or_an(job)} {job}."),
                        (YES, f"{n} has a job.", f"{says[f]} So {n} has a job."),
                        (NO, f"{n} is not {a_or_an(job)} {job}.", f"{says[f]} The hypothesis says the opposite.")]
        elif f == "pets":
            options += [(YES, f"{n} has {a_or_an(pet)} {pet}.", f"{says[f]} So {n} has at least one {pet}."),
                        (YES, f"{n} has a pet.", f"{says[f]} So {n} has a pet."),
                        (NO, f"{n} has no pets.", f"{says[f]} So {n} does have pets."),
                        (NO, f"{n} has exactly {pets(other_k, pet)}.",
                         f"{says[f]} That is {k}, not {other_k}.")]
        else:
            options += [(YES, f"{n} drives a car.", f"{says[f]} So {n} drives a car."),
                        (YES, f"{n}'s car is {color}.", f"{says[f]} So the car is {color}."),
                        (NO, f"{n}'s car is {other_color}.", f"{says[f]} The car is {color}, not {other_color}.")]
    missing = [f for f in ("town", "job", "pets", "car") if f not in facts]
    for f in missing:
        hyp = {"town": f"{n} lives in {town}.", "job": f"{n} is {a_or_an(job)} {job}.",
               "pets": f"{n} has {a_or_an(pet)} {pet}.", "car": f"{n} drives {a_or_an(color)} {color} car."}[f]
        options.append((MAYBE, hyp, "The premise does not say anything about this. So it is not possible to tell."))
    extra = rng.choice(UNMENTIONED).format(n=n)
    options.append((MAYBE, extra, "The premise does not say anything about this. So it is not possible to tell."))
    f = rng.choice(facts)
    entailed = {"town": (f"where {n} lives", f"{n} lives in {town}."),
                "job": (f"{n}'s job", f"{n} is {a_or_an(job)} {job}."),
                "pets": (f"{n}'s pets", f"{n} has {pets(k, pet)}."),
                "car": (f"{n}'s car", f"{n}'s car is {color}.")}[f]
    return _with_label(rng, premise, options, entailed)


THINGS = [("apple", "basket"), ("book", "box"), ("chair", "room"), ("bird", "tree"), ("car", "parking lot"),
          ("boat", "harbor"), ("cookie", "jar"), ("child", "park"), ("coin", "purse"), ("cup", "cupboard"),
          ("flower", "vase"), ("sheep", "field")]


def plural(thing: str) -> str:
    return {"sheep": "sheep", "child": "children"}.get(thing, thing + "s")


@generator("nli_numbers", fields=FIELDS)
def nli_numbers(rng: random.Random) -> dict:
    thing, place = rng.choice(THINGS)
    things = plural(thing)
    n = rng.randint(3, 20)
    name = rng.choice(NAMES)
    premise = rng.choice([f"There are {n} {things} in the {place}.", f"{name} counted {n} {things} in the {place}.",
                          f"The {place} holds exactly {n} {things}."])
    says = f"The premise says there are {n} {things}."
    lo = rng.randint(2, n - 1)
    hi = rng.randint(n + 1, n + 10)
    other = rng.choice([x for x in range(2, 31) if x != n])
    options = [
        (YES, f"There are more than {lo} {things} in the {place}.", f"{says} {n} is more than {lo}. So yes."),
        (YES, f"There are fewer than {hi} {things} in the {place}.", f"{says} {n} is fewer than {hi}. So yes."),
        (YES, f"There are at least {lo} {things} in the {place}.", f"{says} {n} is at least {lo}. So yes."),
        (YES, f"There are some {things} in the {place}.", f"{says} {n} is more than zero. So yes."),
        (NO, f"There are more than {hi} {things} in the {place}.", f"{says} {n} is not more than {hi}. So no."),
        (NO, f"There are fewer than {lo} {things} in the {place}.", f"{says} {n} is not fewer than {lo}. So no."),
        (NO, f"There are exactly {other} {things} in the {place}.", f"{says} {n} is not {other}. So no."),
        (NO, f"There are no {things} in the {place}.", f"{says} {n} is more than zero. So no."),
        (MAYBE, f"The {things} in the {place} are {rng.choice(COLORS)}.",
         "The premise does not say what color they are. So it is not possible to tell."),
        (MAYBE, f"There are {rng.randint(2, 20)} {plural(rng.choice([t for t, _ in THINGS if t != thing]))} in the {place}.",
         f"The premise only talks about {things}. So it is not possible to tell."),
        (MAYBE, f"{rng.choice([x for x in NAMES if x != name])} put the {things} in the {place}.",
         "The premise does not say who put them there. So it is not possible to tell."),
    ]
    entailed = (f"how many {things} are in the {place}", f"There are {n} {things} in the {place}.")
    return _with_label(rng, premise, options, entailed)


# comparative, its converse
COMPARATIVES = [("taller", "shorter"), ("older", "younger"), ("faster", "slower"), ("heavier", "lighter"),
                ("stronger", "weaker")]


@generator("nli_comparisons", fields=FIELDS)
def nli_comparisons(rng: random.Random) -> dict:
    a, b, c, d = rng.sample(NAMES, 4)
    more, less = rng.choice(COMPARATIVES)
    chain = rng.random() < 0.6
    if chain:  # a > b > c
        premise = f"{a} is {more} than {b}. {b} is {more} than {c}."
        says = f"The premise says {a} is {more} than {b}, and {b} is {more} than {c}."
        options = [
            (YES, f"{a} is {more} than {c}.", f"{says} So {a} is {more} than {c}."),
            (YES, f"{c} is {less} than {a}.", f"{says} So {a} is {more} than {c}, and {c} is {less} than {a}."),
            (YES, f"{b} is {less} than {a}.", f"{says} If {a} is {more} than {b}, then {b} is {less} than {a}."),
            (NO, f"{c} is {more} than {a}.", f"{says} So {a} is {more} than {c}, not the other way round."),
            (NO, f"{b} is {more} than {a}.", f"{says} So {b} is not {more} than {a}."),
            (NO, f"{a} is {less} than {c}.", f"{says} So {a} is {more} than {c}, not {less}."),
            (MAYBE, f"{a} is {more} than {d}.", f"The premise says nothing about {d}. So it is not possible to tell."),
            (MAYBE, f"{d} is {less} than {c}.", f"The premise says nothing about {d}. So it is not possible to tell."),
        ]
        entailed = (f"{a} and {c}, using the word \"{more}\"", f"{a} is {more} than {c}.")
    else:  # a > b and a > c: b vs c is open
        premise = f"{a} is {more} than {b}. {a} is also {more} than {c}."
        says = f"The premise says {a} is {more} than both {b} and {c}."
        options = [
            (YES, f"{b} is {less} than {a}.", f"{says} So {b} is {less} than {a}."),
            (YES, f"{c} is {less} than {a}.", f"{says} So {c} is {less} than {a}."),
            (NO, f"{b} is {more} than {a}.", f"{says} So {b} is not {more} than {a}."),
            (NO, f"{c} is {more} than {a}.", f"{says} So {c} is not {more} than {a}."),
            (MAYBE, f"{b} is {more} than {c}.",
             f"{says} It does not compare {b} and {c}. So it is not possible to tell."),
            (MAYBE, f"{c} is {more} than {b}.",
             f"{says} It does not compare {b} and {c}. So it is not possible to tell."),
            (MAYBE, f"{a} is {more} than {d}.", f"The premise says nothing about {d}. So it is not possible to tell."),
        ]
        entailed = (f"{b} and {a}, using the word \"{less}\"", f"{b} is {less} than {a}.")
    return _with_label(rng, premise, options, entailed)
